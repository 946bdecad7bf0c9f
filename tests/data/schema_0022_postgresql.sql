table api_tokens
  column id: bigint | not null | identity by default
  column name: text | not null
  column token_hash: text | not null
  column prefix: text | not null
  column created_at: text | not null
  column revoked_at: text
  column last_used_at: text
  column scopes: text | not null | default 'purchases refunds customers:read'::text
  constraint api_tokens_pkey PRIMARY KEY (id)
  constraint api_tokens_token_hash_key UNIQUE (token_hash)
table audit
  column id: bigint | not null | identity by default
  column at: text | not null
  column actor: bigint
  column via: text | not null
  column action: text | not null
  column subject: text
  column before: text
  column after: text
  constraint audit_pkey PRIMARY KEY (id)
table broadcast_recipients
  column broadcast_id: bigint | not null
  column customer_id: bigint | not null
  column state: text | not null | default 'pending'::text
  column attempts: bigint | not null | default 0
  column not_before: text
  column message_id: bigint
  column error: text
  column at: text
  column payload: text
  constraint broadcast_recipients_broadcast_id_fkey FOREIGN KEY (broadcast_id) REFERENCES broadcasts(id)
  constraint broadcast_recipients_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint broadcast_recipients_pkey PRIMARY KEY (broadcast_id, customer_id)
  constraint broadcast_recipients_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'sending'::text, 'sent'::text, 'failed'::text, 'blocked'::text, 'skipped'::text])))
table broadcasts
  column id: bigint | not null | identity by default
  column text: text | not null
  column photo: text
  column photo_file_id: text
  column buttons: text
  column segment: text | not null | default 'all'::text
  column state: text | not null | default 'draft'::text
  column created_by: text | not null
  column created_at: text | not null
  column send_at: text
  column started_at: text
  column finished_at: text
  column total: bigint
  column resent: bigint | not null | default 0
  column progress_chat_id: bigint
  column progress_message_id: bigint
  column campaign: text
  column texts: text
  constraint broadcasts_pkey PRIMARY KEY (id)
  constraint broadcasts_state_check CHECK ((state = ANY (ARRAY['draft'::text, 'scheduled'::text, 'sending'::text, 'paused'::text, 'done'::text, 'cancelled'::text])))
table campaign_deliveries
  column campaign: text | not null
  column customer_id: bigint | not null
  column period: text | not null
  column broadcast_id: bigint | not null
  column queued_at: text | not null
  constraint campaign_deliveries_broadcast_id_fkey FOREIGN KEY (broadcast_id) REFERENCES broadcasts(id)
  constraint campaign_deliveries_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint campaign_deliveries_pkey PRIMARY KEY (campaign, customer_id, period)
table customer_tags
  column customer_id: bigint | not null
  column tag: text | not null
  constraint customer_tags_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint customer_tags_pkey PRIMARY KEY (customer_id, tag)
table customers
  column id: bigint | not null | identity by default
  column telegram_id: bigint
  column first_name: text
  column last_name: text
  column username: text
  column telegram_language: text
  column language: text
  column first_seen: text | not null
  column last_seen: text | not null
  column consent_promotions: bigint | not null | default 1
  column consent_surveys: bigint | not null | default 1
  column start_payload: text
  column reachable: bigint | not null | default 1
  column unreachable_since: text
  column card_code: text
  column referral_code: text
  column tier: text
  column birthday: text
  column phone: text
  column consents_changed_at: text
  column forgotten_at: text
  column promotions_opted_in_at: text
  constraint customers_pkey PRIMARY KEY (id)
  constraint customers_telegram_id_key UNIQUE (telegram_id)
table erased_telegram_ids
  column id_hash: text | not null
  column erased_at: text | not null
  constraint erased_telegram_ids_pkey PRIMARY KEY (id_hash)
table faq_entries
  column id: text | not null
  column position: bigint | not null
  column document: text | not null
  column updated_at: text | not null
  constraint faq_entries_pkey PRIMARY KEY (id)
table faq_queries
  column id: bigint | not null | identity by default
  column customer_id: bigint
  column at: text | not null
  column language: text
  column text: text | not null
  column entry_id: text
  column score: double precision
  column confident: bigint | not null
  column outcome: text | not null
  column feedback: text
  constraint faq_queries_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE SET NULL
  constraint faq_queries_pkey PRIMARY KEY (id)
table faq_vectors
  column model: text | not null
  column text_hash: text | not null
  column vector: bytea | not null
  constraint faq_vectors_pkey PRIMARY KEY (model, text_hash)
table fsm_states
  column storage_key: text | not null
  column chat_id: bigint | not null
  column user_id: bigint | not null
  column state: text
  column data: text | not null | default '{}'::text
  column updated_at: text | not null
  constraint fsm_states_pkey PRIMARY KEY (storage_key)
table installation_secrets
  column name: text | not null
  column value: text | not null
  column created_at: text | not null
  constraint installation_secrets_pkey PRIMARY KEY (name)
table interactions
  column id: bigint | not null | identity by default
  column customer_id: bigint | not null
  column at: text | not null
  column direction: text | not null
  column kind: text | not null
  column text: text
  column update_id: bigint
  column message_id: bigint
  column status: text | not null | default 'received'::text
  column error: text
  column meta: text
  column outbound_key: text
  constraint interactions_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE
  constraint interactions_direction_check CHECK ((direction = ANY (ARRAY['in'::text, 'out'::text])))
  constraint interactions_pkey PRIMARY KEY (id)
table job_runs
  column job: text | not null
  column run_key: text | not null
  column started_at: text | not null
  column finished_at: text
  column result: text
  constraint job_runs_pkey PRIMARY KEY (job, run_key)
table lot_usage
  column rowid: bigint | not null | identity always
  column entry_id: bigint | not null
  column lot_id: bigint | not null
  column points: bigint | not null
  constraint lot_usage_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES points_entries(id)
  constraint lot_usage_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES points_entries(id)
  constraint lot_usage_pkey PRIMARY KEY (rowid)
  constraint lot_usage_points_check CHECK ((points <> 0))
table nps_invitations
  column survey_id: bigint | not null
  column customer_id: bigint | not null
  column invited_at: text | not null
  constraint nps_invitations_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint nps_invitations_pkey PRIMARY KEY (survey_id, customer_id)
  constraint nps_invitations_survey_id_fkey FOREIGN KEY (survey_id) REFERENCES nps_surveys(id)
table nps_responses
  column survey_id: bigint | not null
  column customer_id: bigint | not null
  column score: bigint | not null
  column reason: text
  column answered_at: text | not null
  constraint nps_responses_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint nps_responses_pkey PRIMARY KEY (survey_id, customer_id)
  constraint nps_responses_score_check CHECK (((score >= 0) AND (score <= 10)))
  constraint nps_responses_survey_id_fkey FOREIGN KEY (survey_id) REFERENCES nps_surveys(id)
table nps_surveys
  column id: bigint | not null | identity by default
  column created_at: text | not null
  column created_by: bigint
  column recipients: bigint | not null
  column segment: text | not null | default 'all'::text
  column origin: text | not null | default 'admin'::text
  constraint nps_surveys_pkey PRIMARY KEY (id)
table outbox
  column id: bigint | not null | identity by default
  column customer_id: bigint | not null
  column kind: text | not null
  column payload: text | not null
  column dedupe_key: text
  column created_at: text | not null
  column not_before: text | not null
  column state: text | not null | default 'pending'::text
  column attempts: bigint | not null | default 0
  column sent_at: text
  column error: text
  constraint outbox_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint outbox_dedupe_key_key UNIQUE (dedupe_key)
  constraint outbox_pkey PRIMARY KEY (id)
  constraint outbox_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'sent'::text, 'failed'::text])))
table points_entries
  column id: bigint | not null | identity by default
  column customer_id: bigint | not null
  column at: text | not null
  column delta: bigint | not null
  column reason: text | not null
  column source: text
  column idempotency_key: text
  column is_lot: bigint | not null | default 0
  column expires_at: text
  column note: text
  constraint points_entries_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint points_entries_delta_check CHECK ((delta <> 0))
  constraint points_entries_idempotency_key_key UNIQUE (idempotency_key)
  constraint points_entries_pkey PRIMARY KEY (id)
table processed_updates
  column update_id: bigint | not null
  column received_at: text | not null
  column state: text | not null | default 'received'::text
  column claim: text
  column finished_at: text
  constraint processed_updates_pkey PRIMARY KEY (update_id)
  constraint processed_updates_state_check CHECK ((state = ANY (ARRAY['received'::text, 'done'::text, 'orphaned'::text])))
table purchases
  column id: bigint | not null | identity by default
  column order_id: text | not null
  column customer_id: bigint | not null
  column amount_minor: bigint | not null
  column currency: text | not null
  column purchased_at: text | not null
  column recorded_at: text | not null
  column points: bigint | not null
  column balance_after: bigint | not null
  column tier: text
  column recorded_by: text | not null
  column purchased_epoch: bigint
  constraint purchases_amount_minor_check CHECK ((amount_minor > 0))
  constraint purchases_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint purchases_order_id_key UNIQUE (order_id)
  constraint purchases_pkey PRIMARY KEY (id)
table redemptions
  column id: bigint | not null | identity by default
  column code: text | not null
  column customer_id: bigint | not null
  column reward_id: text
  column points: bigint | not null
  column created_at: text | not null
  column expires_at: text | not null
  column state: text | not null | default 'issued'::text
  column closed_at: text
  column confirmed_by: bigint
  column sale_amount_minor: bigint
  constraint redemptions_code_key UNIQUE (code)
  constraint redemptions_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint redemptions_pkey PRIMARY KEY (id)
  constraint redemptions_points_check CHECK ((points > 0))
  constraint redemptions_state_check CHECK ((state = ANY (ARRAY['issued'::text, 'confirmed'::text, 'expired'::text, 'cancelled'::text])))
table referrals
  column referee_id: bigint | not null
  column referrer_id: bigint | not null
  column attributed_at: text | not null
  column converted_at: text
  column order_id: text
  column referrer_points: bigint | not null | default 0
  column referee_points: bigint | not null | default 0
  column reversed_at: text
  constraint referrals_pkey PRIMARY KEY (referee_id)
  constraint referrals_referee_id_fkey FOREIGN KEY (referee_id) REFERENCES customers(id)
  constraint referrals_referrer_id_fkey FOREIGN KEY (referrer_id) REFERENCES customers(id)
table refunds
  column id: bigint | not null | identity by default
  column refund_key: text | not null
  column purchase_id: bigint | not null
  column amount_minor: bigint | not null
  column points_reversed: bigint | not null
  column points_uncollected: bigint | not null | default 0
  column balance_after: bigint | not null
  column at: text | not null
  constraint refunds_amount_minor_check CHECK ((amount_minor > 0))
  constraint refunds_pkey PRIMARY KEY (id)
  constraint refunds_purchase_id_fkey FOREIGN KEY (purchase_id) REFERENCES purchases(id)
  constraint refunds_refund_key_key UNIQUE (refund_key)
table request_fingerprints
  column kind: text | not null
  column request_key: text | not null
  column fields: text | not null
  column result: text
  column created_at: text | not null
  constraint request_fingerprints_pkey PRIMARY KEY (kind, request_key)
table reviews
  column id: bigint | not null | identity by default
  column customer_id: bigint | not null
  column purchase_id: bigint
  column stars: bigint | not null
  column text: text
  column photo: text
  column source: text | not null
  column created_at: text | not null
  column updated_at: text | not null
  column published_at: text
  column published_message_id: bigint
  constraint reviews_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint reviews_pkey PRIMARY KEY (id)
  constraint reviews_purchase_id_fkey FOREIGN KEY (purchase_id) REFERENCES purchases(id)
  constraint reviews_stars_check CHECK (((stars >= 1) AND (stars <= 5)))
table roles
  column telegram_id: bigint | not null
  column role: text | not null
  column granted_by: bigint
  column granted_at: text | not null
  constraint roles_pkey PRIMARY KEY (telegram_id, role)
  constraint roles_role_check CHECK ((role = ANY (ARRAY['admin'::text, 'agent'::text, 'cashier'::text])))
table support_relays
  column source_chat_id: bigint | not null
  column source_message_id: bigint | not null
  column target_chat_id: bigint | not null
  column target_message_id: bigint | not null
  column customer_id: bigint | not null
  constraint support_relays_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint support_relays_pkey PRIMARY KEY (source_chat_id, source_message_id)
table support_topics
  column customer_id: bigint | not null
  column chat_id: bigint | not null
  column thread_id: bigint | not null
  column created_at: text | not null
  constraint support_topics_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint support_topics_pkey PRIMARY KEY (customer_id)
table tickets
  column id: bigint | not null | identity by default
  column customer_id: bigint | not null
  column status: text | not null | default 'open'::text
  column source: text | not null
  column opened_at: text | not null
  column assignee_id: bigint
  column assignee_name: text
  column first_response_at: text
  column closed_at: text
  column closed_by: bigint
  column rating: bigint
  column rating_comment: text
  column rated_at: text
  column reminded_at: text
  column card_message_id: bigint
  constraint tickets_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)
  constraint tickets_pkey PRIMARY KEY (id)
  constraint tickets_rating_check CHECK (((rating >= 1) AND (rating <= 5)))
table webhook_inbox
  column update_id: bigint | not null
  column payload: text
  column received_at: text | not null
  column state: text | not null | default 'pending'::text
  column claimed_by: text
  column claimed_at: text
  column attempts: integer | not null | default 0
  column finished_at: text
  constraint webhook_inbox_pkey PRIMARY KEY (update_id)
  constraint webhook_inbox_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'done'::text])))
index api_tokens_active_name: CREATE UNIQUE INDEX api_tokens_active_name ON public.api_tokens USING btree (name) WHERE (revoked_at IS NULL)
index api_tokens_pkey: CREATE UNIQUE INDEX api_tokens_pkey ON public.api_tokens USING btree (id)
index api_tokens_token_hash_key: CREATE UNIQUE INDEX api_tokens_token_hash_key ON public.api_tokens USING btree (token_hash)
index audit_by_actor: CREATE INDEX audit_by_actor ON public.audit USING btree (actor, at)
index audit_by_time: CREATE INDEX audit_by_time ON public.audit USING btree (at)
index audit_pkey: CREATE UNIQUE INDEX audit_pkey ON public.audit USING btree (id)
index broadcast_recipients_pkey: CREATE UNIQUE INDEX broadcast_recipients_pkey ON public.broadcast_recipients USING btree (broadcast_id, customer_id)
index broadcast_recipients_queue: CREATE INDEX broadcast_recipients_queue ON public.broadcast_recipients USING btree (broadcast_id, customer_id) WHERE (state = ANY (ARRAY['pending'::text, 'sending'::text]))
index broadcasts_active: CREATE INDEX broadcasts_active ON public.broadcasts USING btree (state, send_at) WHERE (state = ANY (ARRAY['scheduled'::text, 'sending'::text]))
index broadcasts_pkey: CREATE UNIQUE INDEX broadcasts_pkey ON public.broadcasts USING btree (id)
index campaign_deliveries_by_customer: CREATE INDEX campaign_deliveries_by_customer ON public.campaign_deliveries USING btree (customer_id)
index campaign_deliveries_pkey: CREATE UNIQUE INDEX campaign_deliveries_pkey ON public.campaign_deliveries USING btree (campaign, customer_id, period)
index customer_tags_by_tag: CREATE INDEX customer_tags_by_tag ON public.customer_tags USING btree (tag)
index customer_tags_pkey: CREATE UNIQUE INDEX customer_tags_pkey ON public.customer_tags USING btree (customer_id, tag)
index customers_by_card: CREATE UNIQUE INDEX customers_by_card ON public.customers USING btree (card_code) WHERE (card_code IS NOT NULL)
index customers_by_referral_code: CREATE UNIQUE INDEX customers_by_referral_code ON public.customers USING btree (referral_code) WHERE (referral_code IS NOT NULL)
index customers_pkey: CREATE UNIQUE INDEX customers_pkey ON public.customers USING btree (id)
index customers_telegram_id_key: CREATE UNIQUE INDEX customers_telegram_id_key ON public.customers USING btree (telegram_id)
index erased_telegram_ids_pkey: CREATE UNIQUE INDEX erased_telegram_ids_pkey ON public.erased_telegram_ids USING btree (id_hash)
index faq_entries_pkey: CREATE UNIQUE INDEX faq_entries_pkey ON public.faq_entries USING btree (id)
index faq_queries_by_entry: CREATE INDEX faq_queries_by_entry ON public.faq_queries USING btree (entry_id)
index faq_queries_by_outcome: CREATE INDEX faq_queries_by_outcome ON public.faq_queries USING btree (confident, at)
index faq_queries_pkey: CREATE UNIQUE INDEX faq_queries_pkey ON public.faq_queries USING btree (id)
index faq_vectors_pkey: CREATE UNIQUE INDEX faq_vectors_pkey ON public.faq_vectors USING btree (model, text_hash)
index fsm_states_by_user: CREATE INDEX fsm_states_by_user ON public.fsm_states USING btree (user_id)
index fsm_states_pkey: CREATE UNIQUE INDEX fsm_states_pkey ON public.fsm_states USING btree (storage_key)
index installation_secrets_pkey: CREATE UNIQUE INDEX installation_secrets_pkey ON public.installation_secrets USING btree (name)
index interactions_by_customer: CREATE INDEX interactions_by_customer ON public.interactions USING btree (customer_id, id)
index interactions_by_outbound_key: CREATE UNIQUE INDEX interactions_by_outbound_key ON public.interactions USING btree (outbound_key) WHERE (outbound_key IS NOT NULL)
index interactions_pkey: CREATE UNIQUE INDEX interactions_pkey ON public.interactions USING btree (id)
index job_runs_pkey: CREATE UNIQUE INDEX job_runs_pkey ON public.job_runs USING btree (job, run_key)
index lot_usage_by_entry: CREATE INDEX lot_usage_by_entry ON public.lot_usage USING btree (entry_id)
index lot_usage_by_lot: CREATE INDEX lot_usage_by_lot ON public.lot_usage USING btree (lot_id)
index lot_usage_pkey: CREATE UNIQUE INDEX lot_usage_pkey ON public.lot_usage USING btree (rowid)
index nps_by_time: CREATE INDEX nps_by_time ON public.nps_responses USING btree (answered_at)
index nps_invitations_by_customer: CREATE INDEX nps_invitations_by_customer ON public.nps_invitations USING btree (customer_id, invited_at)
index nps_invitations_pkey: CREATE UNIQUE INDEX nps_invitations_pkey ON public.nps_invitations USING btree (survey_id, customer_id)
index nps_responses_pkey: CREATE UNIQUE INDEX nps_responses_pkey ON public.nps_responses USING btree (survey_id, customer_id)
index nps_surveys_pkey: CREATE UNIQUE INDEX nps_surveys_pkey ON public.nps_surveys USING btree (id)
index outbox_dedupe_key_key: CREATE UNIQUE INDEX outbox_dedupe_key_key ON public.outbox USING btree (dedupe_key)
index outbox_due: CREATE INDEX outbox_due ON public.outbox USING btree (not_before, id) WHERE (state = 'pending'::text)
index outbox_pkey: CREATE UNIQUE INDEX outbox_pkey ON public.outbox USING btree (id)
index points_by_customer: CREATE INDEX points_by_customer ON public.points_entries USING btree (customer_id, id)
index points_by_time: CREATE INDEX points_by_time ON public.points_entries USING btree (at)
index points_entries_idempotency_key_key: CREATE UNIQUE INDEX points_entries_idempotency_key_key ON public.points_entries USING btree (idempotency_key)
index points_entries_pkey: CREATE UNIQUE INDEX points_entries_pkey ON public.points_entries USING btree (id)
index points_lots_by_expiry: CREATE INDEX points_lots_by_expiry ON public.points_entries USING btree (expires_at) WHERE (is_lot = 1)
index processed_updates_by_state: CREATE INDEX processed_updates_by_state ON public.processed_updates USING btree (state, received_at)
index processed_updates_pkey: CREATE UNIQUE INDEX processed_updates_pkey ON public.processed_updates USING btree (update_id)
index purchases_by_customer: CREATE INDEX purchases_by_customer ON public.purchases USING btree (customer_id, purchased_at)
index purchases_by_customer_epoch: CREATE INDEX purchases_by_customer_epoch ON public.purchases USING btree (customer_id, purchased_epoch, amount_minor)
index purchases_by_recorded: CREATE INDEX purchases_by_recorded ON public.purchases USING btree (recorded_at)
index purchases_order_id_key: CREATE UNIQUE INDEX purchases_order_id_key ON public.purchases USING btree (order_id)
index purchases_pkey: CREATE UNIQUE INDEX purchases_pkey ON public.purchases USING btree (id)
index redemptions_code_key: CREATE UNIQUE INDEX redemptions_code_key ON public.redemptions USING btree (code)
index redemptions_open: CREATE INDEX redemptions_open ON public.redemptions USING btree (expires_at) WHERE (state = 'issued'::text)
index redemptions_pkey: CREATE UNIQUE INDEX redemptions_pkey ON public.redemptions USING btree (id)
index referrals_by_referrer: CREATE INDEX referrals_by_referrer ON public.referrals USING btree (referrer_id, converted_at)
index referrals_pkey: CREATE UNIQUE INDEX referrals_pkey ON public.referrals USING btree (referee_id)
index refunds_by_purchase: CREATE INDEX refunds_by_purchase ON public.refunds USING btree (purchase_id)
index refunds_pkey: CREATE UNIQUE INDEX refunds_pkey ON public.refunds USING btree (id)
index refunds_refund_key_key: CREATE UNIQUE INDEX refunds_refund_key_key ON public.refunds USING btree (refund_key)
index request_fingerprints_pkey: CREATE UNIQUE INDEX request_fingerprints_pkey ON public.request_fingerprints USING btree (kind, request_key)
index reviews_by_customer: CREATE INDEX reviews_by_customer ON public.reviews USING btree (customer_id, created_at)
index reviews_by_time: CREATE INDEX reviews_by_time ON public.reviews USING btree (created_at)
index reviews_one_per_purchase: CREATE UNIQUE INDEX reviews_one_per_purchase ON public.reviews USING btree (purchase_id) WHERE (purchase_id IS NOT NULL)
index reviews_pkey: CREATE UNIQUE INDEX reviews_pkey ON public.reviews USING btree (id)
index roles_pkey: CREATE UNIQUE INDEX roles_pkey ON public.roles USING btree (telegram_id, role)
index support_relays_pkey: CREATE UNIQUE INDEX support_relays_pkey ON public.support_relays USING btree (source_chat_id, source_message_id)
index support_topics_by_thread: CREATE UNIQUE INDEX support_topics_by_thread ON public.support_topics USING btree (chat_id, thread_id)
index support_topics_pkey: CREATE UNIQUE INDEX support_topics_pkey ON public.support_topics USING btree (customer_id)
index tickets_by_closed: CREATE INDEX tickets_by_closed ON public.tickets USING btree (closed_at) WHERE (closed_at IS NOT NULL)
index tickets_by_customer: CREATE INDEX tickets_by_customer ON public.tickets USING btree (customer_id, id)
index tickets_by_opened: CREATE INDEX tickets_by_opened ON public.tickets USING btree (opened_at)
index tickets_one_open: CREATE UNIQUE INDEX tickets_one_open ON public.tickets USING btree (customer_id) WHERE (status = 'open'::text)
index tickets_pkey: CREATE UNIQUE INDEX tickets_pkey ON public.tickets USING btree (id)
index webhook_inbox_by_state: CREATE INDEX webhook_inbox_by_state ON public.webhook_inbox USING btree (state, update_id)
index webhook_inbox_pkey: CREATE UNIQUE INDEX webhook_inbox_pkey ON public.webhook_inbox USING btree (update_id)
trigger faq_queries_not_for_forgotten: CREATE TRIGGER faq_queries_not_for_forgotten BEFORE INSERT ON public.faq_queries FOR EACH ROW EXECUTE FUNCTION erase_faq_query_if_forgotten()
trigger interactions_not_for_forgotten: CREATE TRIGGER interactions_not_for_forgotten BEFORE INSERT ON public.interactions FOR EACH ROW EXECUTE FUNCTION skip_if_customer_forgotten()
trigger outbox_not_for_forgotten: CREATE TRIGGER outbox_not_for_forgotten BEFORE INSERT ON public.outbox FOR EACH ROW EXECUTE FUNCTION skip_if_customer_forgotten()
function erase_faq_query_if_forgotten(): CREATE OR REPLACE FUNCTION public.erase_faq_query_if_forgotten() RETURNS trigger LANGUAGE plpgsql AS $function$ BEGIN IF NEW.customer_id IS NOT NULL AND (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL THEN NEW.customer_id := NULL; NEW.text := '[erased]'; END IF; RETURN NEW; END; $function$
function json_each(ids text): CREATE OR REPLACE FUNCTION public.json_each(ids text) RETURNS TABLE(value bigint) LANGUAGE sql IMMUTABLE AS $function$ SELECT CAST(e AS BIGINT) FROM json_array_elements_text(CAST(ids AS json)) AS e $function$
function julianday(moment text): CREATE OR REPLACE FUNCTION public.julianday(moment text) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $function$ SELECT EXTRACT(EPOCH FROM CAST(moment AS TIMESTAMP)) / 86400.0 + 2440587.5 $function$
function round(value double precision, digits integer): CREATE OR REPLACE FUNCTION public.round(value double precision, digits integer) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $function$ SELECT CAST(ROUND(CAST(value AS NUMERIC), digits) AS DOUBLE PRECISION) $function$
function skip_if_customer_forgotten(): CREATE OR REPLACE FUNCTION public.skip_if_customer_forgotten() RETURNS trigger LANGUAGE plpgsql AS $function$ BEGIN IF (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL THEN RETURN NULL; END IF; RETURN NEW; END; $function$
