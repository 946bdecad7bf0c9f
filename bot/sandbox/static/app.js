// The sandbox page: renders what the emulated Telegram shows each persona and sends what
// the visitor does as that persona. No framework, no build step.
"use strict";

const state = {
  config: null,
  persona: null,
  thread: null, // the agent's open topic
  view: null,
  seen: {}, // persona -> message count last looked at
  orders: [],
  refreshing: false,
  again: false,
  keyboardHidden: false,
  stick: false, // scroll to the newest message on the next render
  following: true, // the chat shows its newest message: keep it so as photos load
  scrolledTo: 0, // where the page last scrolled the chat itself (scrollToEnd)
};
const $ = (id) => document.getElementById(id);
const COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: body instanceof FormData ? {} : { "Content-Type": "application/json" },
    body: body instanceof FormData ? body : JSON.stringify(body),
  };
  const response = await fetch(path, options);
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  return { ok: response.ok, status: response.status, data };
}

function toast(text, alert = false) {
  const box = $("toast");
  box.textContent = text;
  box.classList.toggle("alert", alert);
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, alert ? 4000 : 2200);
}

function avatar(name, id) {
  const node = el("div", { class: "avatar", text: (name || "?").trim().charAt(0).toUpperCase() });
  node.style.background = COLORS[Math.abs(Number(id) || 0) % COLORS.length];
  return node;
}

// --- formatting: Telegram entities (UTF-16 offsets, like JS strings) to HTML ---

function entityTags(entity, text) {
  const slice = text.substr(entity.offset, entity.length);
  switch (entity.type) {
    case "bold": return ["<b>", "</b>"];
    case "italic": return ["<i>", "</i>"];
    case "underline": return ["<u>", "</u>"];
    case "strikethrough": return ["<s>", "</s>"];
    case "spoiler": return ['<span class="spoiler">', "</span>"];
    case "code": return ["<code>", "</code>"];
    case "pre": return ["<pre>", "</pre>"];
    case "blockquote": case "expandable_blockquote": return ["<blockquote>", "</blockquote>"];
    case "text_link": return [`<a href="${escapeHtml(entity.url)}" target="_blank" rel="noopener">`, "</a>"];
    case "url": {
      const href = /^https?:\/\//i.test(slice) ? slice : `http://${slice}`;
      return [`<a href="${escapeHtml(href)}" target="_blank" rel="noopener">`, "</a>"];
    }
    case "bot_command": return [`<span class="cmd" data-command="${escapeHtml(slice)}">`, "</span>"];
    default: return ["", ""];
  }
}

// Telegram's apps turn plain URLs in any message into links; the Bot API's entities do not
// list them for bots' messages, so they are found here, where no entity covers them.
function withUrls(text, entities) {
  const all = [...(entities || [])];
  for (const match of text.matchAll(/https?:\/\/[^\s<>"]+/g)) {
    const start = match.index;
    const end = start + match[0].length;
    if (!all.some((e) => e.offset < end && start < e.offset + e.length)) {
      all.push({ type: "url", offset: start, length: match[0].length });
    }
  }
  return all;
}

function formatText(text, entities) {
  if (!text) return "";
  const opens = {};
  const closes = {};
  for (const entity of withUrls(text, entities)) {
    const [open, close] = entityTags(entity, text);
    if (!open) continue;
    (opens[entity.offset] ||= []).push({ open, length: entity.length });
    (closes[entity.offset + entity.length] ||= []).unshift(close);
  }
  let html = "";
  for (let i = 0; i <= text.length; i++) {
    if (closes[i]) html += closes[i].join("");
    if (opens[i]) html += opens[i].sort((a, b) => b.length - a.length).map((o) => o.open).join("");
    if (i < text.length) html += escapeHtml(text[i]);
  }
  return html;
}

// --- links: a deep link to our bot opens a customer's chat through /start <payload> ---

function deepLinkPayload(href) {
  let url;
  try { url = new URL(href); } catch (e) { return null; }
  if (url.hostname !== "t.me") return null;
  if (url.pathname === "/share/url") {
    const shared = url.searchParams.get("url");
    return shared ? deepLinkPayload(shared) : null;
  }
  const bot = state.config.bot.username.toLowerCase();
  if (url.pathname.replace(/^\//, "").toLowerCase() !== bot) return null;
  return url.searchParams.get("start") || "";
}

async function openLink(href) {
  const payload = deepLinkPayload(href);
  if (payload === null) {
    window.open(href, "_blank", "noopener");
    return;
  }
  const customers = state.config.personas.filter((p) => p.role === "customer");
  const other = customers.find((p) => p.key !== state.persona) || customers[0];
  toast(`${other.name} opens the link: /start ${payload}`);
  await selectPersona(other.key);
  await sendText(payload ? `/start ${payload}` : "/start");
}

// --- rendering ---

function renderMessage(item) {
  const message = item.message;
  if (item.kind === "service") {
    let text = "";
    if (message.forum_topic_created) text = `Topic “${message.forum_topic_created.name}” created`;
    else if (message.forum_topic_edited) text = `Topic renamed to “${message.forum_topic_edited.name || ""}”`;
    else if (message.forum_topic_closed) text = "Topic closed";
    else if (message.forum_topic_reopened) text = "Topic reopened";
    else if (message.pinned_message) text = "A message was pinned";
    else text = "Service message";
    return el("div", { class: "service", text });
  }
  const row = el("div", { class: `row ${item.out ? "out" : "in"}`, "data-message-id": item.id });
  const bubble = el("div", { class: "bubble", "data-testid": "bubble" });
  if (state.view.kind === "forum" && !item.out) bubble.append(el("div", { class: "sender", text: item.sender }));
  if (message.reply_to_message) {
    const quoted = message.reply_to_message;
    bubble.append(el("div", { class: "quote", text: (quoted.text || quoted.caption || "…").slice(0, 80) }));
  }
  if (message.photo) {
    const sizes = message.photo;
    bubble.append(el("img", { class: "photo", src: `/api/file/${encodeURIComponent(sizes[sizes.length - 1].file_id)}`, alt: "photo" }));
  }
  if (message.sticker) {
    bubble.append(el("img", { class: "photo", src: `/api/file/${encodeURIComponent(message.sticker.file_id)}`, alt: message.sticker.emoji || "sticker" }));
  }
  for (const kind of ["document", "audio", "voice", "video", "animation", "video_note"]) {
    const media = message[kind];
    if (!media) continue;
    const name = media.file_name || `${kind} ${media.duration ? `(${media.duration} s)` : ""}`;
    bubble.append(el("a", { class: "document", href: `/api/file/${encodeURIComponent(media.file_id)}`, target: "_blank" },
      el("span", { class: "icon", text: kind === "document" ? "📄" : "▶" }), el("span", { text: name })));
  }
  if (message.contact) bubble.append(el("div", { class: "text", text: `📞 ${message.contact.first_name}: ${message.contact.phone_number}` }));
  if (message.location) bubble.append(el("div", { class: "text", text: `📍 ${message.location.latitude}, ${message.location.longitude}` }));
  const text = message.text ?? message.caption;
  if (text) {
    const body = el("div", { class: "text", "data-testid": "message-text" });
    body.innerHTML = formatText(text, message.entities || message.caption_entities);
    bubble.append(body);
  }
  const time = new Date((message.date || 0) * 1000);
  const stamp = `${message.edit_date ? "edited " : ""}${String(time.getHours()).padStart(2, "0")}:${String(time.getMinutes()).padStart(2, "0")}`;
  bubble.append(el("div", { class: "meta", text: stamp }));
  row.append(bubble);
  if (item.inline_keyboard) row.append(renderInlineKeyboard(item));
  return row;
}

function renderInlineKeyboard(item) {
  const keyboard = el("div", { class: "inline-keyboard", "data-testid": "inline-keyboard" });
  for (const buttons of item.inline_keyboard) {
    const line = el("div", { class: "kb-row" });
    for (const button of buttons) {
      const isUrl = Boolean(button.url);
      line.append(el("button", {
        type: "button",
        class: `kb-button${isUrl ? " url" : ""}`,
        "data-testid": "inline-button",
        text: button.text,
        title: button.text,
        onclick: () => pressInline(item, button),
      }));
    }
    keyboard.append(line);
  }
  return keyboard;
}

async function pressInline(item, button) {
  if (button.callback_data !== undefined) {
    const result = await api("/api/press", { persona: state.persona, message_id: item.id, data: button.callback_data });
    if (!result.ok) toast(result.data.error || "The button did nothing");
    else if (result.data.text) toast(result.data.text, result.data.show_alert);
  } else if (button.url) {
    await openLink(button.url);
  } else if (button.copy_text) {
    navigator.clipboard?.writeText(button.copy_text.text);
    toast("Copied");
  } else {
    toast("This kind of button is not emulated in the sandbox");
  }
}

function renderPersonas() {
  const nav = $("personas");
  nav.replaceChildren();
  const counts = state.view ? state.view.counts : {};
  for (const persona of state.config.personas) {
    const unread = counts[persona.key] > (state.seen[persona.key] || 0) && persona.key !== state.persona;
    nav.append(el("button", {
      type: "button",
      class: `persona${persona.key === state.persona ? " active" : ""}`,
      "data-persona": persona.key,
      "data-testid": `persona-${persona.key}`,
      onclick: () => selectPersona(persona.key),
    }, avatar(persona.name, persona.id),
    el("span", {}, el("div", { class: "persona-name", text: persona.name }),
      el("div", { class: "persona-role", text: `${persona.role} · ${persona.language}` })),
    unread ? el("span", { class: "unread", title: "new messages" }) : null));
  }
}

function renderTopics(view) {
  const nav = $("topics");
  nav.hidden = view.kind !== "forum";
  if (view.kind !== "forum") return;
  nav.replaceChildren();
  if (!view.topics.length) {
    nav.append(el("div", { class: "topics-empty", text: "No tickets yet: a customer's /support opens a topic here." }));
  }
  for (const topic of view.topics) {
    const dot = el("span", { class: "dot" });
    dot.style.background = `#${Number(topic.icon_color).toString(16).padStart(6, "0")}`;
    nav.append(el("button", {
      type: "button",
      class: `topic${topic.id === view.thread ? " active" : ""}${topic.closed ? " closed" : ""}`,
      "data-testid": "topic",
      onclick: () => { state.thread = topic.id; refresh(); },
    }, el("div", { class: "topic-name" }, dot, el("span", { text: topic.name })),
    el("div", { class: "topic-preview", text: topic.preview })));
  }
}

function renderReplyKeyboard(rows) {
  const box = $("reply-keyboard");
  box.replaceChildren();
  $("kb-toggle").hidden = !rows;
  box.hidden = !rows || state.keyboardHidden;
  if (!rows) return;
  for (const buttons of rows) {
    const line = el("div", { class: "kb-row" });
    for (const button of buttons) {
      line.append(el("button", {
        type: "button",
        class: "reply-button",
        "data-testid": "reply-button",
        text: button.text,
        onclick: () => (button.request_contact
          ? api("/api/contact", { persona: state.persona })
          : sendText(button.text)),
      }));
    }
    box.append(line);
  }
}

function renderCommands(commands) {
  const box = $("commands");
  box.replaceChildren();
  for (const command of commands) {
    box.append(el("button", {
      type: "button",
      class: "command",
      onclick: () => {
        box.hidden = true;
        const input = $("text");
        if (["note", "broadcast"].includes(command.command)) {
          input.value = `/${command.command} `;
          input.focus();
        } else {
          sendText(`/${command.command}`);
        }
      },
    }, el("b", { text: `/${command.command}` }), el("span", { text: command.description })));
  }
  $("commands-button").hidden = !commands.length;
}

function render(view) {
  const messages = $("messages");
  const nearBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
  const firstRender = state.view === null || state.view.persona !== view.persona || state.view.thread !== view.thread;
  state.view = view;
  state.thread = view.kind === "forum" ? view.thread : null;
  state.seen[view.persona] = view.counts[view.persona];
  $("app").dataset.view = view.persona;
  const persona = state.config.personas.find((p) => p.key === view.persona);
  const title = view.kind === "forum" ? `${view.title} › ${view.thread_name}` : view.title;
  $("chat-title").textContent = title;
  $("chat-subtitle").textContent = view.kind === "forum"
    ? `${view.subtitle} · you are ${persona.name}` : `bot · you are ${persona.name}`;
  $("chat-avatar").replaceWith(Object.assign(avatar(view.title, view.kind === "forum" ? 3 : 2), { id: "chat-avatar" }));
  renderPersonas();
  renderTopics(view);
  const pinned = $("pinned");
  pinned.hidden = !view.pinned || !view.pinned.length;
  if (!pinned.hidden) {
    const text = view.pinned[0].message.text || view.pinned[0].message.caption || "";
    pinned.textContent = `📌 ${text.split("\n").slice(0, 2).join(" · ")}`;
  }
  messages.replaceChildren();
  if (!view.messages.length) {
    messages.append(el("div", { class: "empty-chat", text: view.kind === "forum"
      ? "Tickets appear here as topics, each with the customer's card."
      : "A loyalty programme, answers to questions and a human when you need one. Press START." }));
  }
  for (const item of view.messages) messages.append(renderMessage(item));
  const canWrite = view.kind === "private" ? view.started : view.thread !== null;
  $("start-panel").hidden = view.kind !== "private" || view.started;
  $("composer").hidden = view.kind === "private" && !view.started;
  $("text").disabled = !canWrite;
  $("text").placeholder = view.kind === "forum"
    ? (view.thread !== null ? "Reply to the customer, /note or /close" : "No topic to write in")
    : "Message";
  renderReplyKeyboard(view.reply_keyboard);
  renderCommands(view.commands || []);
  // Last, once the keyboard and composer have taken their room: follow the conversation
  // unless the visitor scrolled up to read.
  state.following = firstRender || nearBottom || state.stick;
  if (state.following) scrollToEnd(messages);
  state.stick = false;
}

function scrollToEnd(messages) {
  messages.scrollTop = messages.scrollHeight;
  state.scrolledTo = messages.scrollTop;
}

// --- live data ---

async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try {
    do {
      state.again = false;
      const query = new URLSearchParams({ persona: state.persona });
      if (state.thread !== null) query.set("thread", state.thread);
      const result = await api(`/api/view?${query}`);
      if (result.ok) render(result.data);
    } while (state.again);
  } finally {
    state.refreshing = false;
  }
  refreshTillCard();
}

async function selectPersona(key) {
  if (state.persona !== key) {
    state.persona = key;
    state.thread = null;
    localStorage.setItem("sandbox.persona", key);
    const persona = state.config.personas.find((p) => p.key === key);
    if (persona.role === "customer") $("till-customer").value = String(persona.id);
  }
  await refresh();
}

async function sendText(text) {
  state.stick = true;
  const result = await api("/api/send", { persona: state.persona, text, thread: state.thread });
  if (!result.ok) toast(result.data.error || "Not sent");
  return result.ok;
}

// --- the till ---

function money(value) { return Number(value).toFixed(2); }

async function refreshTillCard() {
  const id = $("till-customer").value;
  if (!id) return;
  const card = $("till-card");
  const result = await api(`/api/till/customer/${id}`);
  if (!result.ok) {
    card.textContent = result.status === 404 ? "Not a customer yet: they have to /start the bot first." : (result.data.error || "Unavailable");
    return;
  }
  const customer = result.data;
  card.replaceChildren(
    el("div", { class: "balance", "data-testid": "till-balance", text: `${customer.balance} points` }),
    el("div", { text: `Tier: ${customer.tier.name} · spent ${money(customer.tier.spend_12_months)} in 12 months` }),
    customer.tier.next_tier ? el("div", { class: "hint", text: `${money(customer.tier.spend_to_next)} more to ${customer.tier.next_tier}` }) : null,
    el("div", { class: "hint", text: `Card ${customer.card || "—"}` }),
  );
}

function tillResult(text, error = false) {
  const box = $("till-result");
  box.textContent = text;
  box.classList.toggle("error", error);
}

function renderOrders() {
  const list = $("till-orders");
  list.replaceChildren();
  if (!state.orders.length) list.append(el("li", { class: "hint", text: "None yet" }));
  for (const order of state.orders.slice().reverse()) {
    list.append(el("li", {}, el("span", { text: `${order.order_id} · ${order.name} · ${money(order.amount)}` }),
      el("button", { type: "button", text: "Refund", onclick: () => { $("till-refund-order").value = order.order_id; $("till-refund-amount").value = ""; } })));
  }
}

async function tillBuy() {
  const select = $("till-customer");
  const name = select.options[select.selectedIndex].textContent;
  const result = await api("/api/till/purchase", { telegram_id: Number(select.value), amount: $("till-amount").value });
  if (!result.ok) {
    tillResult(describeError(result.data), true);
    return;
  }
  const order = result.data;
  state.orders.push({ ...order, name });
  renderOrders();
  tillResult(`✔ ${order.order_id}: ${money(order.amount)} ${order.currency}, +${order.points_earned} points → balance ${order.balance}${order.tier ? ` (${order.tier})` : ""}`);
  refreshTillCard();
}

async function tillRefund() {
  const result = await api("/api/till/refund", { order_id: $("till-refund-order").value, amount: $("till-refund-amount").value });
  if (!result.ok) {
    tillResult(describeError(result.data), true);
    return;
  }
  const refund = result.data;
  tillResult(`↩ ${refund.order_id}: refunded ${money(refund.amount)}, −${refund.points_reversed} points → balance ${refund.balance}`);
  refreshTillCard();
}

function describeError(data) {
  const details = (data.errors || []).map((e) => `${e.field}: ${e.message}`).join("\n");
  return `✖ ${data.error || "refused"}${details ? `\n${details}` : ""}`;
}

function toggleTill(open) {
  const till = $("till");
  const show = open ?? till.classList.contains("closed");
  till.classList.toggle("closed", !show);
  $("till-toggle").classList.toggle("on", show);
  if (show) refreshTillCard();
}

// --- start ---

async function main() {
  state.config = (await api("/api/config")).data;
  document.title = `${state.config.bot.name} · sandbox`;
  const select = $("till-customer");
  for (const customer of state.config.till_customers) {
    select.append(el("option", { value: String(customer.id), text: customer.name }));
  }
  renderOrders();
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("text");
    const text = input.value.trim();
    if (!text) return;
    if (await sendText(text)) input.value = "";
  });
  $("start-button").addEventListener("click", () => sendText("/start"));
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("persona", state.persona);
    if (state.thread !== null) form.append("thread", state.thread);
    form.append("caption", $("text").value.trim());
    form.append("file", file);
    const result = await api("/api/upload", form);
    if (!result.ok) toast(result.data.error || "Not sent");
    else $("text").value = "";
    $("file").value = "";
  });
  $("kb-toggle").addEventListener("click", () => {
    state.keyboardHidden = !state.keyboardHidden;
    renderReplyKeyboard(state.view ? state.view.reply_keyboard : null);
  });
  $("commands-button").addEventListener("click", () => { $("commands").hidden = !$("commands").hidden; });
  // A photo takes its height only once it has loaded, after the render scrolled down: the
  // newest message would slip out of sight. Load events do not bubble, hence the capture.
  $("messages").addEventListener("load", (event) => {
    if (event.target.tagName === "IMG" && state.following) scrollToEnd($("messages"));
  }, true);
  $("messages").addEventListener("scroll", () => {
    const messages = $("messages");
    // The scroll event of the page's own scrolling may be delivered after a photo grew the
    // chat: then the end looks far off though the visitor did not move. Only a move up from
    // where the page put the chat is the visitor's reading.
    const movedUp = messages.scrollTop < state.scrolledTo - 1;
    state.following = !movedUp
      || messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
  });
  $("messages").addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (link && !link.classList.contains("document")) {
      event.preventDefault();
      openLink(link.href);
      return;
    }
    const command = event.target.closest(".cmd");
    if (command) sendText(command.dataset.command);
    const spoiler = event.target.closest(".spoiler");
    if (spoiler) spoiler.classList.add("shown");
  });
  $("till-toggle").addEventListener("click", () => toggleTill());
  $("till-toggle-mobile").addEventListener("click", () => toggleTill(true));
  $("till-close").addEventListener("click", () => toggleTill(false));
  $("till-customer").addEventListener("change", refreshTillCard);
  $("till-buy").addEventListener("click", tillBuy);
  $("till-refund").addEventListener("click", tillRefund);
  const wide = window.matchMedia("(min-width: 1101px)").matches;
  toggleTill(wide);

  const saved = localStorage.getItem("sandbox.persona");
  const first = state.config.personas.find((p) => p.key === saved) || state.config.personas[0];
  await selectPersona(first.key);
  const events = new EventSource("/api/events");
  events.addEventListener("change", () => refresh());
  events.addEventListener("open", () => refresh());
}

main();
