table api_tokens
  column id: INTEGER | pk=1
  column name: TEXT | not null
  column token_hash: TEXT | not null
  column prefix: TEXT | not null
  column created_at: TEXT | not null
  column revoked_at: TEXT
  column last_used_at: TEXT
  column scopes: TEXT | not null | default 'purchases refunds customers:read'
  unique (token_hash)
table audit
  column id: INTEGER | pk=1
  column at: TEXT | not null
  column actor: INTEGER
  column via: TEXT | not null
  column action: TEXT | not null
  column subject: TEXT
  column before: TEXT
  column after: TEXT
table broadcast_recipients
  column broadcast_id: INTEGER | not null | pk=1
  column customer_id: INTEGER | not null | pk=2
  column state: TEXT | not null | default 'pending'
  column attempts: INTEGER | not null | default 0
  column not_before: TEXT
  column message_id: INTEGER
  column error: TEXT
  column at: TEXT
  column payload: TEXT
  check (state IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'skipped'))
  foreign key (broadcast_id) references broadcasts (id) on update NO ACTION on delete NO ACTION
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  primary key (broadcast_id, customer_id)
  without rowid
table broadcasts
  column id: INTEGER | pk=1
  column text: TEXT | not null
  column photo: TEXT
  column photo_file_id: TEXT
  column buttons: TEXT
  column segment: TEXT | not null | default 'all'
  column state: TEXT | not null | default 'draft'
  column created_by: TEXT | not null
  column created_at: TEXT | not null
  column send_at: TEXT
  column started_at: TEXT
  column finished_at: TEXT
  column total: INTEGER
  column resent: INTEGER | not null | default 0
  column progress_chat_id: INTEGER
  column progress_message_id: INTEGER
  column campaign: TEXT
  column texts: TEXT
  check (state IN ('draft', 'scheduled', 'sending', 'paused', 'done', 'cancelled'))
table campaign_deliveries
  column campaign: TEXT | not null | pk=1
  column customer_id: INTEGER | not null | pk=2
  column period: TEXT | not null | pk=3
  column broadcast_id: INTEGER | not null
  column queued_at: TEXT | not null
  foreign key (broadcast_id) references broadcasts (id) on update NO ACTION on delete NO ACTION
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  primary key (campaign, customer_id, period)
  without rowid
table customer_tags
  column customer_id: INTEGER | not null | pk=1
  column tag: TEXT | not null | pk=2
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  primary key (customer_id, tag)
  without rowid
table customers
  column id: INTEGER | pk=1
  column telegram_id: INTEGER
  column first_name: TEXT
  column last_name: TEXT
  column username: TEXT
  column telegram_language: TEXT
  column language: TEXT
  column first_seen: TEXT | not null
  column last_seen: TEXT | not null
  column consent_promotions: INTEGER | not null | default 1
  column consent_surveys: INTEGER | not null | default 1
  column start_payload: TEXT
  column reachable: INTEGER | not null | default 1
  column unreachable_since: TEXT
  column card_code: TEXT
  column referral_code: TEXT
  column tier: TEXT
  column birthday: TEXT
  column phone: TEXT
  column consents_changed_at: TEXT
  column forgotten_at: TEXT
  column promotions_opted_in_at: TEXT
  unique (telegram_id)
table erased_telegram_ids
  column id_hash: TEXT | pk=1
  column erased_at: TEXT | not null
  primary key (id_hash)
table faq_entries
  column id: TEXT | pk=1
  column position: INTEGER | not null
  column document: TEXT | not null
  column updated_at: TEXT | not null
  primary key (id)
table faq_queries
  column id: INTEGER | pk=1
  column customer_id: INTEGER
  column at: TEXT | not null
  column language: TEXT
  column text: TEXT | not null
  column entry_id: TEXT
  column score: REAL
  column confident: INTEGER | not null
  column outcome: TEXT | not null
  column feedback: TEXT
  foreign key (customer_id) references customers (id) on update NO ACTION on delete SET NULL
table faq_vectors
  column model: TEXT | not null | pk=1
  column text_hash: TEXT | not null | pk=2
  column vector: BLOB | not null
  primary key (model, text_hash)
table fsm_states
  column storage_key: TEXT | pk=1
  column chat_id: BIGINT | not null
  column user_id: BIGINT | not null
  column state: TEXT
  column data: TEXT | not null | default '{}'
  column updated_at: TEXT | not null
  primary key (storage_key)
table installation_secrets
  column name: TEXT | pk=1
  column value: TEXT | not null
  column created_at: TEXT | not null
  primary key (name)
table interactions
  column id: INTEGER | pk=1
  column customer_id: INTEGER | not null
  column at: TEXT | not null
  column direction: TEXT | not null
  column kind: TEXT | not null
  column text: TEXT
  column update_id: INTEGER
  column message_id: INTEGER
  column status: TEXT | not null | default 'received'
  column error: TEXT
  column meta: TEXT
  column outbound_key: TEXT
  check (direction IN ('in', 'out'))
  foreign key (customer_id) references customers (id) on update NO ACTION on delete CASCADE
table job_runs
  column job: TEXT | not null | pk=1
  column run_key: TEXT | not null | pk=2
  column started_at: TEXT | not null
  column finished_at: TEXT
  column result: TEXT
  primary key (job, run_key)
table lot_usage
  column entry_id: INTEGER | not null
  column lot_id: INTEGER | not null
  column points: INTEGER | not null
  check (points <> 0)
  foreign key (entry_id) references points_entries (id) on update NO ACTION on delete NO ACTION
  foreign key (lot_id) references points_entries (id) on update NO ACTION on delete NO ACTION
table nps_invitations
  column survey_id: INTEGER | not null | pk=1
  column customer_id: INTEGER | not null | pk=2
  column invited_at: TEXT | not null
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  foreign key (survey_id) references nps_surveys (id) on update NO ACTION on delete NO ACTION
  primary key (survey_id, customer_id)
  without rowid
table nps_responses
  column survey_id: INTEGER | not null | pk=1
  column customer_id: INTEGER | not null | pk=2
  column score: INTEGER | not null
  column reason: TEXT
  column answered_at: TEXT | not null
  check (score BETWEEN 0 AND 10)
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  foreign key (survey_id) references nps_surveys (id) on update NO ACTION on delete NO ACTION
  primary key (survey_id, customer_id)
table nps_surveys
  column id: INTEGER | pk=1
  column created_at: TEXT | not null
  column created_by: INTEGER
  column recipients: INTEGER | not null
  column segment: TEXT | not null | default 'all'
  column origin: TEXT | not null | default 'admin'
table outbox
  column id: INTEGER | pk=1
  column customer_id: INTEGER | not null
  column kind: TEXT | not null
  column payload: TEXT | not null
  column dedupe_key: TEXT
  column created_at: TEXT | not null
  column not_before: TEXT | not null
  column state: TEXT | not null | default 'pending'
  column attempts: INTEGER | not null | default 0
  column sent_at: TEXT
  column error: TEXT
  check (state IN ('pending', 'sent', 'failed'))
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  unique (dedupe_key)
table points_entries
  column id: INTEGER | pk=1
  column customer_id: INTEGER | not null
  column at: TEXT | not null
  column delta: INTEGER | not null
  column reason: TEXT | not null
  column source: TEXT
  column idempotency_key: TEXT
  column is_lot: INTEGER | not null | default 0
  column expires_at: TEXT
  column note: TEXT
  check (delta <> 0)
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  unique (idempotency_key)
table processed_updates
  column update_id: INTEGER | pk=1
  column received_at: TEXT | not null
  column state: TEXT | not null | default 'received'
  column claim: TEXT
  column finished_at: TEXT
  check (state IN ('received', 'done', 'orphaned'))
table purchases
  column id: INTEGER | pk=1
  column order_id: TEXT | not null
  column customer_id: INTEGER | not null
  column amount_minor: INTEGER | not null
  column currency: TEXT | not null
  column purchased_at: TEXT | not null
  column recorded_at: TEXT | not null
  column points: INTEGER | not null
  column balance_after: INTEGER | not null
  column tier: TEXT
  column recorded_by: TEXT | not null
  column purchased_epoch: INTEGER
  check (amount_minor > 0)
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  unique (order_id)
table redemptions
  column id: INTEGER | pk=1
  column code: TEXT | not null
  column customer_id: INTEGER | not null
  column reward_id: TEXT
  column points: INTEGER | not null
  column created_at: TEXT | not null
  column expires_at: TEXT | not null
  column state: TEXT | not null | default 'issued'
  column closed_at: TEXT
  column confirmed_by: INTEGER
  column sale_amount_minor: INTEGER
  check (points > 0)
  check (state IN ('issued', 'confirmed', 'expired', 'cancelled'))
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  unique (code)
table referrals
  column referee_id: INTEGER | pk=1
  column referrer_id: INTEGER | not null
  column attributed_at: TEXT | not null
  column converted_at: TEXT
  column order_id: TEXT
  column referrer_points: INTEGER | not null | default 0
  column referee_points: INTEGER | not null | default 0
  column reversed_at: TEXT
  foreign key (referee_id) references customers (id) on update NO ACTION on delete NO ACTION
  foreign key (referrer_id) references customers (id) on update NO ACTION on delete NO ACTION
table refunds
  column id: INTEGER | pk=1
  column refund_key: TEXT | not null
  column purchase_id: INTEGER | not null
  column amount_minor: INTEGER | not null
  column points_reversed: INTEGER | not null
  column points_uncollected: INTEGER | not null | default 0
  column balance_after: INTEGER | not null
  column at: TEXT | not null
  check (amount_minor > 0)
  foreign key (purchase_id) references purchases (id) on update NO ACTION on delete NO ACTION
  unique (refund_key)
table request_fingerprints
  column kind: TEXT | not null | pk=1
  column request_key: TEXT | not null | pk=2
  column fields: TEXT | not null
  column result: TEXT
  column created_at: TEXT | not null
  primary key (kind, request_key)
table reviews
  column id: INTEGER | pk=1
  column customer_id: INTEGER | not null
  column purchase_id: INTEGER
  column stars: INTEGER | not null
  column text: TEXT
  column photo: TEXT
  column source: TEXT | not null
  column created_at: TEXT | not null
  column updated_at: TEXT | not null
  column published_at: TEXT
  column published_message_id: INTEGER
  check (stars BETWEEN 1 AND 5)
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  foreign key (purchase_id) references purchases (id) on update NO ACTION on delete NO ACTION
table roles
  column telegram_id: INTEGER | not null | pk=1
  column role: TEXT | not null | pk=2
  column granted_by: INTEGER
  column granted_at: TEXT | not null
  check (role IN ('admin', 'agent', 'cashier'))
  primary key (telegram_id, role)
table support_relays
  column source_chat_id: INTEGER | not null | pk=1
  column source_message_id: INTEGER | not null | pk=2
  column target_chat_id: INTEGER | not null
  column target_message_id: INTEGER | not null
  column customer_id: INTEGER | not null
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
  primary key (source_chat_id, source_message_id)
table support_topics
  column customer_id: INTEGER | pk=1
  column chat_id: INTEGER | not null
  column thread_id: INTEGER | not null
  column created_at: TEXT | not null
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
table tickets
  column id: INTEGER | pk=1
  column customer_id: INTEGER | not null
  column status: TEXT | not null | default 'open'
  column source: TEXT | not null
  column opened_at: TEXT | not null
  column assignee_id: INTEGER
  column assignee_name: TEXT
  column first_response_at: TEXT
  column closed_at: TEXT
  column closed_by: INTEGER
  column rating: INTEGER
  column rating_comment: TEXT
  column rated_at: TEXT
  column reminded_at: TEXT
  column card_message_id: INTEGER
  check (rating BETWEEN 1 AND 5)
  foreign key (customer_id) references customers (id) on update NO ACTION on delete NO ACTION
table webhook_inbox
  column update_id: BIGINT | pk=1
  column payload: TEXT
  column received_at: TEXT | not null
  column state: TEXT | not null | default 'pending'
  column claimed_by: TEXT
  column claimed_at: TEXT
  column attempts: INTEGER | not null | default 0
  column finished_at: TEXT
  check (state IN ('pending', 'done'))
  primary key (update_id)
index api_tokens_active_name on api_tokens (name) unique where revoked_at IS NULL
index audit_by_actor on audit (actor, at)
index audit_by_time on audit (at)
index broadcast_recipients_queue on broadcast_recipients (broadcast_id, customer_id) where state IN ('pending', 'sending')
index broadcasts_active on broadcasts (state, send_at) where state IN ('scheduled', 'sending')
index campaign_deliveries_by_customer on campaign_deliveries (customer_id)
index customer_tags_by_tag on customer_tags (tag)
index customers_by_card on customers (card_code) unique where card_code IS NOT NULL
index customers_by_referral_code on customers (referral_code) unique where referral_code IS NOT NULL
index faq_queries_by_entry on faq_queries (entry_id)
index faq_queries_by_outcome on faq_queries (confident, at)
index fsm_states_by_user on fsm_states (user_id)
index interactions_by_customer on interactions (customer_id, id)
index interactions_by_outbound_key on interactions (outbound_key) unique where outbound_key IS NOT NULL
index lot_usage_by_entry on lot_usage (entry_id)
index lot_usage_by_lot on lot_usage (lot_id)
index nps_by_time on nps_responses (answered_at)
index nps_invitations_by_customer on nps_invitations (customer_id, invited_at)
index outbox_due on outbox (not_before, id) where state = 'pending'
index points_by_customer on points_entries (customer_id, id)
index points_by_time on points_entries (at)
index points_lots_by_expiry on points_entries (expires_at) where is_lot = 1
index processed_updates_by_state on processed_updates (state, received_at)
index purchases_by_customer on purchases (customer_id, purchased_at)
index purchases_by_customer_epoch on purchases (customer_id, purchased_epoch, amount_minor)
index purchases_by_recorded on purchases (recorded_at)
index redemptions_open on redemptions (expires_at) where state = 'issued'
index referrals_by_referrer on referrals (referrer_id, converted_at)
index refunds_by_purchase on refunds (purchase_id)
index reviews_by_customer on reviews (customer_id, created_at)
index reviews_by_time on reviews (created_at)
index reviews_one_per_purchase on reviews (purchase_id) unique where purchase_id IS NOT NULL
index support_topics_by_thread on support_topics (chat_id, thread_id) unique
index tickets_by_closed on tickets (closed_at) where closed_at IS NOT NULL
index tickets_by_customer on tickets (customer_id, id)
index tickets_by_opened on tickets (opened_at)
index tickets_one_open on tickets (customer_id) unique where status = 'open'
index webhook_inbox_by_state on webhook_inbox (state, update_id)
trigger faq_queries_not_for_forgotten on faq_queries: CREATE TRIGGER faq_queries_not_for_forgotten AFTER INSERT ON faq_queries WHEN NEW.customer_id IS NOT NULL AND (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL BEGIN UPDATE faq_queries SET customer_id = NULL, text = '[erased]' WHERE id = NEW.id; END
trigger interactions_not_for_forgotten on interactions: CREATE TRIGGER interactions_not_for_forgotten BEFORE INSERT ON interactions WHEN (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL BEGIN SELECT RAISE(IGNORE); END
trigger outbox_not_for_forgotten on outbox: CREATE TRIGGER outbox_not_for_forgotten BEFORE INSERT ON outbox WHEN (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL BEGIN SELECT RAISE(IGNORE); END
