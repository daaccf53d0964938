// Ledgerdesk pages: the live chat client (the only script beyond htmx). The session is the
// page's HttpOnly cookie, which the WebSocket handshake carries; no token is in the page.
(function () {
  "use strict";
  function start(box) {
    var log = box.querySelector(".chat-log");
    var status = box.querySelector(".chat-status");
    var form = box.querySelector(".chat-form");
    var startButton = box.querySelector(".chat-start");
    var role = box.getAttribute("data-chat");
    var chatId = null;
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + box.getAttribute("data-socket"));
    function text(key, values) {
      var s = box.getAttribute("data-t-" + key) || "";
      Object.keys(values || {}).forEach(function (k) { s = s.split("{" + k + "}").join(values[k]); });
      return s;
    }
    function say(who, text, mine) {
      var li = document.createElement("li");
      li.className = "msg" + (mine ? " mine" : "");
      var meta = document.createElement("p");
      meta.className = "meta";
      meta.textContent = who;
      var body = document.createElement("div");
      body.className = "body";
      body.textContent = text;
      li.appendChild(meta);
      li.appendChild(body);
      log.appendChild(li);
    }
    // The agent's side (console): the team's waiting chats, one accepted chat at a time.
    var waiting = box.querySelector(".chat-waiting");
    var withLine = box.querySelector(".chat-with");
    var ticketLink = box.querySelector(".chat-ticket");
    var endButton = box.querySelector(".chat-end");
    function showWaiting(chats) {
      if (!waiting) { return; }
      while (waiting.firstChild) { waiting.removeChild(waiting.firstChild); }
      if (!chats.length) {
        var none = document.createElement("li");
        none.textContent = text("none");
        waiting.appendChild(none);
      }
      chats.forEach(function (c) {
        var li = document.createElement("li");
        var who = document.createElement("span");
        var first = c.messages && c.messages.length ? " — " + c.messages[0].text : "";
        who.textContent = c.customer_name + " <" + c.email + "> · " +
          text("waited", { minutes: Math.max(1, Math.round(c.waiting_secs / 60)) }) + first;
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = text("accept");
        b.disabled = !!chatId;
        b.addEventListener("click", function () {
          ws.send(JSON.stringify({ type: "accept", chat: c.id }));
        });
        li.appendChild(who);
        li.appendChild(b);
        waiting.appendChild(li);
      });
    }
    ws.onopen = function () {
      if (role === "agent") { status.textContent = text("online"); }
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "waiting") {
        showWaiting(f.chats || []);
      } else if (f.type === "accepted") {
        chatId = f.chat;
        withLine.textContent = text("with", { name: f.email, number: f.number });
        withLine.hidden = false;
        var a = ticketLink.querySelector("a");
        a.href = "/console/tickets/" + encodeURIComponent(f.ticket);
        a.textContent = f.number;
        ticketLink.hidden = false;
        while (log.firstChild) { log.removeChild(log.firstChild); }
        (f.messages || []).forEach(function (m) { say(m.name || m.from, m.text, m.from === role); });
        form.hidden = false;
        Array.prototype.forEach.call(waiting.querySelectorAll("button"), function (b) { b.disabled = true; });
      } else if (f.type === "ended" && role === "agent") {
        status.textContent = text("ended", { number: f.number || (ticketLink.querySelector("a").textContent) });
        form.hidden = true;
        chatId = null;
        Array.prototype.forEach.call(waiting.querySelectorAll("button"), function (b) { b.disabled = false; });
      } else if (f.type === "queued") {
        status.textContent = text("queued", { position: f.position, minutes: Math.max(1, Math.round(f.estimated_wait_secs / 60)) });
      } else if (f.type === "queue") {
        if (f.position) { status.textContent = text("queued", { position: f.position, minutes: "?" }); }
      } else if (f.type === "agent_joined") {
        status.textContent = text("joined") || "✓";
        form.hidden = false;
      } else if (f.type === "message") {
        say((f.name || f.from) + "", f.text, f.from === role);
      } else if (f.type === "ticket_created") {
        status.textContent = text("ticket", { number: f.number }) || f.number;
      } else if (f.type === "ended") {
        status.textContent = text("ended");
        form.hidden = true;
      } else if (f.type === "error") {
        status.textContent = f.message;
      }
    };
    ws.onclose = function () { form.hidden = true; chatId = null; };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var input = form.querySelector("input[name=text]");
      var text = input.value.trim();
      if (!text) { return; }
      var frame = { type: "message", text: text };
      if (chatId) { frame.chat = chatId; }
      ws.send(JSON.stringify(frame));
      input.value = "";
    });
    if (endButton) {
      endButton.addEventListener("click", function () {
        if (chatId) { ws.send(JSON.stringify({ type: "end", chat: chatId })); }
      });
    }
    if (startButton) { startButton.hidden = true; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-chat]");
    Array.prototype.forEach.call(boxes, function (box) {
      var b = box.querySelector(".chat-start");
      if (b) {
        b.addEventListener("click", function () { start(box); });
      } else {
        start(box);
      }
    });
  });
})();
