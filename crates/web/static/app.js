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
    var chatId = box.getAttribute("data-chat-id");
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
    ws.onopen = function () {
      if (role === "agent" && chatId) {
        ws.send(JSON.stringify({ type: "accept", chat: chatId }));
      }
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "queued") {
        status.textContent = text("queued", { position: f.position, minutes: Math.max(1, Math.round(f.estimated_wait_secs / 60)) });
      } else if (f.type === "queue") {
        if (f.position) { status.textContent = text("queued", { position: f.position, minutes: "?" }); }
      } else if (f.type === "agent_joined" || f.type === "accepted") {
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
    ws.onclose = function () { form.hidden = true; };
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
