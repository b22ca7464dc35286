// The wallet pages: every value comes from the public wallet API, called
// with the session token this tab keeps in sessionStorage. No framework.
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("strings").textContent);
  var root = document.getElementById("wallet");
  var page = root.dataset.page;
  var store = window.sessionStorage;
  var SVG = "http://www.w3.org/2000/svg";

  function $(id) { return document.getElementById(id); }

  // fmt fills %s (in order) or %1$s, %2$s (by position).
  function fmt(s) {
    var args = Array.prototype.slice.call(arguments, 1), i = 0;
    return s.replace(/%(?:(\d)\$)?s/g, function (_, n) { return String(n ? args[n - 1] : args[i++]); });
  }

  // Money is integer fen: never a float on the way in or out.
  function fen(text) {
    var m = /^\s*(\d{1,12})(?:\.(\d{1,2}))?\s*$/.exec(text);
    if (!m) return null;
    var frac = (m[2] || "") + "00";
    return parseInt(m[1], 10) * 100 + parseInt(frac.slice(0, 2), 10);
  }
  function yuan(minor, currency) {
    var neg = minor < 0, n = Math.abs(minor);
    var s = Math.floor(n / 100) + "." + ("0" + (n % 100)).slice(-2);
    return (neg ? "-" : "") + (currency && currency !== "CNY" ? s + " " + currency : "¥" + s);
  }

  function randomKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  // The app's id of this browser: a device the wallet has seen signs in
  // without a one-time code.
  function deviceID() {
    var id = window.localStorage.getItem("qrpay.device");
    if (!id) {
      id = "web-" + randomKey();
      window.localStorage.setItem("qrpay.device", id);
    }
    return id;
  }

  function showError(msg) { $("error").textContent = msg ? fmt(T.wallet_error, msg) : ""; }
  function showNotice(msg) { $("notice").textContent = msg || ""; }

  function api(method, path, body, headers) {
    var h = { "Accept": "application/json" };
    var token = store.getItem("qrpay.token");
    if (token) h.Authorization = "Bearer " + token;
    if (body !== undefined) h["Content-Type"] = "application/json";
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(path, { method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        var ct = r.headers.get("Content-Type") || "";
        return (ct.indexOf("json") >= 0 ? r.json() : r.text()).then(function (b) {
          if (r.status === 401 && page !== "signin") {
            store.removeItem("qrpay.token");
            window.location.assign("/wallet/?expired=1");
          }
          return { status: r.status, body: b };
        });
      });
  }

  function errorOf(r) { return r.body && r.body.error ? r.body.error : { code: "http_" + r.status, message: String(r.status) }; }

  // ask shows a dialog and resolves with its input's value, or null.
  function ask(dialogID, inputID) {
    var d = $(dialogID), input = $(inputID);
    input.value = "";
    return new Promise(function (resolve) {
      d.addEventListener("close", function onClose() {
        d.removeEventListener("close", onClose);
        resolve(d.returnValue === "ok" && input.value ? input.value : null);
      });
      d.showModal();
      input.focus();
    });
  }

  // send makes a request, answering the API's asks as the customer would:
  // a one-time code (otp_required) or the payment PIN (pin_required,
  // step_up_required). The same Idempotency-Key goes with every try.
  function send(method, path, body, headers, tries) {
    tries = tries === undefined ? 3 : tries;
    return api(method, path, body, headers).then(function (r) {
      if (r.status < 400 || tries === 0) return r;
      var e = errorOf(r);
      if (e.code === "otp_required" && e.challenge) {
        $("code-sent").textContent = fmt(T.wallet_code_sent, e.challenge.sent_to || "");
        $("code-dialog").dataset.challenge = e.challenge.challenge_id;
        return ask("code-dialog", "code").then(function (code) {
          if (!code) return r;
          body.otp = { challenge_id: e.challenge.challenge_id, code: code };
          return send(method, path, body, headers, tries - 1);
        });
      }
      if ((e.code === "pin_required" || e.code === "step_up_required") && !body.pin) {
        return ask("pin-dialog", "pin").then(function (pin) {
          if (!pin) return r;
          body.pin = pin;
          return send(method, path, body, headers, tries - 1);
        });
      }
      return r;
    });
  }

  function fail(r) { showError(errorOf(r).message); }

  function li(parts) {
    var el = document.createElement("li");
    parts.forEach(function (p) {
      var span = document.createElement("span");
      span.textContent = p[0];
      if (p[1]) span.className = p[1];
      el.appendChild(span);
    });
    return el;
  }

  function empty(list) {
    if (!list.children.length) list.appendChild(li([[T.wallet_empty, "muted"]]));
  }

  function loadCards() {
    return api("GET", "/v1/wallet/cards").then(function (r) {
      if (r.status !== 200) return fail(r);
      var selects = document.querySelectorAll(".card-select");
      Array.prototype.forEach.call(selects, function (s) { s.textContent = ""; });
      var list = $("cards");
      if (list) list.textContent = "";
      r.body.data.forEach(function (c) {
        var label = c.brand.toUpperCase() + " " + c.masked;
        if (list) list.appendChild(li([[label], [c.status === "frozen" ? T.wallet_card_frozen : c.holder_name, "muted"]]));
        Array.prototype.forEach.call(selects, function (s) {
          var o = document.createElement("option");
          o.value = c.id;
          o.textContent = label;
          o.disabled = c.status === "frozen";
          s.appendChild(o);
        });
      });
      if (list && !r.body.data.length) list.appendChild(li([[T.wallet_no_cards, "muted"]]));
    });
  }

  function loadBalance() {
    return api("GET", "/v1/wallet").then(function (r) {
      if (r.status !== 200) return fail(r);
      $("balance").textContent = yuan(r.body.balance, r.body.currency);
      $("balance").dataset.minor = r.body.balance;
    });
  }

  var pages = {};

  pages.signin = function () {
    if (/expired=1/.test(window.location.search)) $("notice").textContent = T.wallet_signed_out;
    $("signin").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError("");
      send("POST", "/v1/wallet/sessions", { phone: $("phone").value.trim(), password: $("password").value, device_id: deviceID() })
        .then(function (r) {
          if (r.status !== 201) return fail(r);
          store.setItem("qrpay.token", r.body.token);
          store.setItem("qrpay.session", r.body.session_id);
          window.location.assign("/wallet/home");
        });
    });
  };

  pages.home = function () {
    loadBalance();
    loadCards();
    $("topup").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError(""); showNotice("");
      var amount = fen($("topup-amount").value);
      if (amount === null || amount <= 0) return showError(T.wallet_amount);
      send("POST", "/v1/wallet/topups", { card_id: $("topup-card").value, amount: amount }, { "Idempotency-Key": randomKey() })
        .then(function (r) {
          if (r.status !== 201) return fail(r);
          showNotice(T.wallet_done + " " + yuan(r.body.amount, r.body.currency));
          $("topup-amount").value = "";
          loadBalance();
        });
    });
    $("transfer").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError(""); showNotice("");
      var amount = fen($("transfer-amount").value);
      if (amount === null || amount <= 0) return showError(T.wallet_amount);
      var body = { to_phone: $("transfer-phone").value.trim(), amount: amount };
      if ($("transfer-note").value) body.note = $("transfer-note").value;
      send("POST", "/v1/wallet/transfers", body, { "Idempotency-Key": randomKey() }).then(function (r) {
        if (r.status !== 201) return fail(r);
        showNotice(T.wallet_done + " " + yuan(r.body.amount, r.body.currency));
        $("transfer").reset();
        loadBalance();
      });
    });
  };

  pages.pay = function () {
    var scanned = null;
    loadCards();
    if ("BarcodeDetector" in window) {
      $("photo-box").hidden = false;
      $("photo").addEventListener("change", function () {
        var file = $("photo").files[0];
        if (!file) return;
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        window.createImageBitmap(file).then(function (img) { return detector.detect(img); }).then(function (codes) {
          if (!codes.length) return showError(T.wallet_photo_none);
          $("payload").value = codes[0].rawValue;
        }, function (e) { showError(String(e)); });
      });
    }
    $("scan").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError(""); showNotice("");
      api("POST", "/v1/wallet/scan", { qr_payload: $("payload").value.trim() }).then(function (r) {
        if (r.status !== 200) { $("confirm").hidden = true; return fail(r); }
        scanned = r.body;
        $("confirm-title").textContent = fmt(T.wallet_pay_to, scanned.merchant_name);
        $("confirm-amount").textContent = scanned.static ? "" : yuan(scanned.amount, scanned.currency);
        $("static-amount").hidden = !scanned.static;
        $("pay-amount").required = scanned.static;
        $("confirm").hidden = false;
        $("pay-button").focus();
      });
    });
    var key = null;
    $("pay").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError(""); showNotice("");
      var body = { qr_payload: $("payload").value.trim(), card_id: $("pay-card").value };
      if (scanned.static) {
        body.amount = fen($("pay-amount").value);
        if (body.amount === null || body.amount <= 0) return showError(T.wallet_amount);
      }
      key = key || randomKey(); // one payment, one key, however many tries
      $("pay-button").disabled = true;
      // The scan said whether this amount needs the PIN: ask before paying.
      var pin = scanned.pin_required ? ask("pin-dialog", "pin") : Promise.resolve(null);
      pin.then(function (p) {
        if (scanned.pin_required && !p) return { status: 0 };
        if (p) body.pin = p;
        return send("POST", "/v1/wallet/payments", body, { "Idempotency-Key": key });
      }).then(function (r) {
        $("pay-button").disabled = false;
        if (r.status === 0) return;
        if (r.status !== 201) return fail(r);
        key = null;
        $("confirm").hidden = true;
        $("scan").reset();
        showNotice(fmt(T.wallet_paid, yuan(-r.body.amount, r.body.currency), r.body.counterparty || ""));
      });
    });
  };

  function movementLabel(m) {
    return (T["type_" + m.type] || m.type) + (m.counterparty ? " · " + m.counterparty : "") + (m.note ? " · " + m.note : "");
  }

  pages.history = function () {
    var cursor = "";
    function more() {
      api("GET", "/v1/wallet/movements?limit=20" + (cursor ? "&starting_after=" + encodeURIComponent(cursor) : "")).then(function (r) {
        if (r.status !== 200) return fail(r);
        r.body.data.forEach(function (m) {
          $("movements").appendChild(li([[new Date(m.created_at).toLocaleString() + " " + movementLabel(m)],
            [yuan(m.amount, m.currency), m.amount < 0 ? "" : "ok"]]));
        });
        empty($("movements"));
        cursor = r.body.next_cursor || "";
        $("more").hidden = !r.body.has_more;
      });
    }
    $("more").addEventListener("click", more);
    more();
  };

  pages.statement = function () {
    var now = new Date();
    $("month").value = now.getFullYear() + "-" + ("0" + (now.getMonth() + 1)).slice(-2);
    function show() {
      showError("");
      var month = $("month").value;
      api("GET", "/v1/wallet/statements/" + encodeURIComponent(month)).then(function (r) {
        if (r.status !== 200) return fail(r);
        var s = r.body;
        $("opening").textContent = yuan(s.opening_balance, s.currency);
        $("money-in").textContent = yuan(s.money_in.amount, s.currency) + " (" + s.money_in.count + ")";
        $("money-out").textContent = yuan(-s.money_out.amount, s.currency) + " (" + s.money_out.count + ")";
        $("closing").textContent = yuan(s.closing_balance, s.currency);
        $("count").textContent = s.movements;
        $("statement").hidden = false;
        $("csv").hidden = false;
      });
    }
    $("statement-form").addEventListener("submit", function (ev) { ev.preventDefault(); show(); });
    $("csv").addEventListener("click", function () {
      var month = $("month").value;
      fetch("/v1/wallet/statements/" + encodeURIComponent(month) + "?format=csv",
        { headers: { Authorization: "Bearer " + store.getItem("qrpay.token"), Accept: "text/csv" } })
        .then(function (r) { return r.blob(); })
        .then(function (b) {
          var a = document.createElement("a");
          a.href = URL.createObjectURL(b);
          a.download = "qrpay-statement-" + month + ".csv";
          document.body.appendChild(a);
          a.click();
          a.remove();
        });
    });
    show();
  };

  // barChart draws horizontal bars, one per row: [label, value], with the
  // value written beside each bar. Values are minor units.
  function barChart(box, rows, currency) {
    box.textContent = "";
    var rowH = 28, labelW = 110, valueW = 90, width = 420;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + Math.max(rows.length * rowH, rowH));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", box.dataset.label);
    var max = rows.reduce(function (m, r) { return Math.max(m, r[1]); }, 0) || 1;
    rows.forEach(function (r, i) {
      var y = i * rowH;
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", 0);
      label.setAttribute("y", y + 18);
      label.textContent = r[0];
      svg.appendChild(label);
      var rect = document.createElementNS(SVG, "rect");
      var w = Math.max(0, Math.round((width - labelW - valueW) * Math.max(r[1], 0) / max));
      rect.setAttribute("class", "bar");
      rect.setAttribute("x", labelW);
      rect.setAttribute("y", y + 6);
      rect.setAttribute("width", w);
      rect.setAttribute("height", 16);
      rect.setAttribute("data-key", r[2]);
      rect.setAttribute("data-net", r[1]);
      var title = document.createElementNS(SVG, "title");
      title.textContent = r[0] + ": " + yuan(r[1], currency);
      rect.appendChild(title);
      svg.appendChild(rect);
      var value = document.createElementNS(SVG, "text");
      value.setAttribute("x", labelW + w + 6);
      value.setAttribute("y", y + 18);
      value.textContent = yuan(r[1], currency);
      svg.appendChild(value);
    });
    box.appendChild(svg);
  }

  pages.analysis = function () {
    function show() {
      showError("");
      var q = [];
      if ($("from").value) q.push("from=" + $("from").value);
      if ($("to").value) q.push("to=" + $("to").value);
      api("GET", "/v1/wallet/analysis" + (q.length ? "?" + q.join("&") : "")).then(function (r) {
        if (r.status !== 200) return fail(r);
        var a = r.body;
        $("from").value = a.from;
        $("to").value = a.to;
        $("spent-total").textContent = yuan(a.spending.net, a.currency);
        $("spent-total").dataset.minor = a.spending.net;
        barChart($("category-chart"), a.categories.map(function (c) {
          return [T["category_" + c.category] || c.category, c.net, c.category];
        }), a.currency);
        var tbody = document.querySelector("#category-table tbody");
        tbody.textContent = "";
        a.categories.forEach(function (c) {
          var tr = document.createElement("tr");
          var th = document.createElement("th");
          th.scope = "row";
          th.textContent = T["category_" + c.category] || c.category;
          var td = document.createElement("td");
          td.className = "num";
          td.textContent = yuan(c.net, a.currency) + " · " + (c.share_bps / 100).toFixed(2) + "%";
          tr.appendChild(th);
          tr.appendChild(td);
          tbody.appendChild(tr);
        });
        barChart($("month-chart"), a.months.map(function (m) { return [m.month, m.net, m.month]; }), a.currency);
      });
    }
    $("analysis-form").addEventListener("submit", function (ev) { ev.preventDefault(); show(); });
    show();
  };

  pages.notices = function () {
    api("GET", "/v1/announcements").then(function (r) {
      if (r.status !== 200) return fail(r);
      r.body.data.forEach(function (n) { $("announcements").appendChild(li([[n.title + " — " + n.body]])); });
      empty($("announcements"));
    });
    api("GET", "/v1/wallet/notifications?limit=50").then(function (r) {
      if (r.status !== 200) return fail(r);
      r.body.data.forEach(function (n) {
        $("notifications").appendChild(li([[new Date(n.created_at).toLocaleString() + " " + n.title],
          [n.amount !== undefined ? yuan(n.amount, n.currency) : "", "muted"]]));
      });
      empty($("notifications"));
    });
  };

  if (page !== "signin") {
    if (!store.getItem("qrpay.token")) {
      window.location.assign("/wallet/");
      return;
    }
    $("signout").addEventListener("click", function () {
      var id = store.getItem("qrpay.session");
      var done = function () {
        store.removeItem("qrpay.token");
        store.removeItem("qrpay.session");
        window.location.assign("/wallet/");
      };
      (id ? api("DELETE", "/v1/wallet/sessions/" + encodeURIComponent(id)) : Promise.resolve()).then(done, done);
    });
  }
  pages[page]();
})();
