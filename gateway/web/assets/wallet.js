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
          return { status: r.status, body: b, date: r.headers.get("Date") };
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

  // fail shows a refusal: in the page's language for the codes whose
  // message says nothing more than the code, in the gateway's words
  // otherwise (a wrong PIN's attempts left, a field's problem).
  function fail(r) {
    var e = errorOf(r);
    showError(T["code_" + e.code] || e.message);
  }

  // noAnswer says a request got no answer: the network, not the gateway.
  function noAnswer() {
    showNotice("");
    $("error").textContent = T.wallet_no_answer;
  }

  // answers are the fields a prompt adds to a request (send): a request
  // with them is the same request.
  var answers = { pin: true, otp: true, approval: true };

  // stored reports whether the gateway keeps an answer against its
  // Idempotency-Key, to replay it to every later request with the key (as
  // final() in gateway/idempotency.go decides): a success, or a refusal
  // the same request would always meet. A duplicate still in flight is
  // not the answer of the request.
  function stored(r) {
    if (r.status >= 200 && r.status < 300) return true;
    var code = errorOf(r).code;
    return (r.status === 402 || r.status === 409 || r.status === 410 || r.status === 422) &&
      code !== "idempotency_in_progress";
  }

  // operation keeps the Idempotency-Key of one request the customer means
  // to make (a payment, a top-up, a transfer, a charge confirmed), so that
  // it moves money at most once however often it is tried. Every try of
  // the same request goes under the same key: after an answered prompt
  // (send), after a refusal the gateway does not store (a wrong PIN), and
  // after no answer or one that says to try again (5xx, the key still in
  // flight) — then with the very body sent before, since the first try may
  // have committed. A new key is made when the request changes (another
  // card, funding source, amount, payload or recipient) and once the
  // gateway stored its answer: trying again is then another operation,
  // which is neither replayed that answer nor refused as a different
  // request under a spent key.
  function operation() {
    var intent = null, key = null, unsure = null;
    function end(r, body) {
      if (r && stored(r)) {
        intent = key = unsure = null;
        return;
      }
      unsure = !r || r.status >= 500 || errorOf(r).code === "idempotency_in_progress" ? body : null;
    }
    return {
      // begin is the next try of a request of body to path: its key, and
      // the body to send (the unanswered one, when this is its retry).
      begin: function (path, body) {
        var what = {};
        Object.keys(body).forEach(function (k) { if (!answers[k]) what[k] = body[k]; });
        what = path + " " + JSON.stringify(what);
        if (what !== intent) {
          intent = what;
          key = randomKey();
          unsure = null;
        }
        return { path: path, key: key, body: unsure || body };
      },
      // run sends a try and resolves with its answer, or with null when
      // none came (the page says so).
      run: function (t) {
        return send("POST", t.path, t.body, { "Idempotency-Key": t.key }).then(function (r) {
          end(r, t.body);
          return r;
        }, function () {
          end(null, t.body);
          noAnswer();
          return null;
        });
      }
    };
  }

  // busy disables a form's submit button while its request is on its way.
  function busy(form, b) { form.querySelector('button[type="submit"]').disabled = b; }

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
    var topup = operation(), transfer = operation();
    $("topup").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError(""); showNotice("");
      var amount = fen($("topup-amount").value);
      if (amount === null || amount <= 0) return showError(T.wallet_amount);
      busy($("topup"), true);
      topup.run(topup.begin("/v1/wallet/topups", { card_id: $("topup-card").value, amount: amount })).then(function (r) {
        busy($("topup"), false);
        if (!r) return;
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
      busy($("transfer"), true);
      transfer.run(transfer.begin("/v1/wallet/transfers", body)).then(function (r) {
        busy($("transfer"), false);
        if (!r) return;
        if (r.status !== 201) return fail(r);
        showNotice(T.wallet_done + " " + yuan(r.body.amount, r.body.currency));
        $("transfer").reset();
        loadBalance();
      });
    });
  };

  // readQR finds a QR code in an image file and resolves with its text, or
  // null. The browser's BarcodeDetector reads it where there is one that
  // knows QR codes; elsewhere (Chromium on Linux and Windows, Firefox), or
  // when it finds nothing, the vendored jsQR does: assets/jsqr.js, loaded
  // on first use (docs/web.md says where it comes from).
  function readQR(file) {
    return window.createImageBitmap(file).then(function (img) {
      return detectQR(img).then(function (text) {
        return text !== null ? text : loadJsQR().then(function (jsQR) { return scanQR(jsQR, img); });
      }).finally(function () { img.close(); });
    });
  }

  function detectQR(img) {
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) return null;
      return new window.BarcodeDetector({ formats: ["qr_code"] }).detect(img).then(function (codes) {
        return codes.length ? codes[0].rawValue : null;
      });
    }).catch(function () { return null; });
  }

  var jsQRLoading = null;
  function loadJsQR() {
    if (!jsQRLoading) {
      jsQRLoading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = "/assets/jsqr.js";
        s.addEventListener("load", function () { resolve(window.jsQR); });
        s.addEventListener("error", function () { jsQRLoading = null; reject(new Error("the QR decoder did not load")); });
        document.head.appendChild(s);
      });
    }
    return jsQRLoading;
  }

  // scanQR reads img's pixels with jsQR: first scaled to at most 1600 px a
  // side (a phone's photo is several times that, and decoding time grows
  // with the pixels), then, if that found nothing, at up to 4096 px.
  function scanQR(jsQR, img) {
    var sides = [1600, 4096];
    for (var i = 0; i < sides.length; i++) {
      var scale = Math.min(1, sides[i] / Math.max(img.width, img.height));
      var w = Math.round(img.width * scale), h = Math.round(img.height * scale);
      var canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(img, 0, 0, w, h);
      var found = jsQR(ctx.getImageData(0, 0, w, h).data, w, h);
      if (found) return found.data;
      if (scale === 1) break;
    }
    return null;
  }

  pages.pay = function () {
    var scanned = null;
    loadCards();
    $("photo").addEventListener("change", function () {
      var file = $("photo").files[0];
      if (!file) return;
      showError(""); showNotice(T.wallet_photo_reading);
      readQR(file).then(function (text) {
        showNotice("");
        if (text === null) return showError(T.wallet_photo_none);
        $("payload").value = text;
        $("scan").requestSubmit();
      }, function () { showNotice(""); showError(T.wallet_photo_failed); });
    });
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
    var payment = operation();
    $("pay").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError(""); showNotice("");
      var body = { qr_payload: $("payload").value.trim(), funding: $("pay-funding").value, card_id: $("pay-card").value };
      if (scanned.static) {
        body.amount = fen($("pay-amount").value);
        if (body.amount === null || body.amount <= 0) return showError(T.wallet_amount);
      }
      var t = payment.begin("/v1/wallet/payments", body);
      $("pay-button").disabled = true;
      // The scan said whether this amount needs the PIN: ask before paying
      // (a retry of a request that got no answer has it).
      var askPIN = scanned.pin_required && !t.body.pin;
      (askPIN ? ask("pin-dialog", "pin") : Promise.resolve(null)).then(function (p) {
        if (askPIN && !p) return { status: 0 };
        if (p) t.body.pin = p;
        return payment.run(t);
      }).then(function (r) {
        $("pay-button").disabled = false;
        if (!r || r.status === 0) return;
        if (r.status !== 201) return fail(r);
        $("confirm").hidden = true;
        $("scan").reset();
        showNotice(fmt(T.wallet_paid, yuan(-r.body.amount, r.body.currency), r.body.counterparty || ""));
      });
    });
  };

  // The pay-code screen (docs/payment-codes.md): this browser is the
  // device (deviceID), and the gateway computes its code: the page asks for
  // the current one with its images at every 30-second step, so no seed is
  // ever kept in the browser. The gateway makes the device's key for a
  // funding source on the first request and reuses it after. What a
  // merchant does with the code comes from polling the charges that wait
  // for the PIN and the notification feed.
  pages.paycode = function () {
    var STEP = 30000, POLL = 3000;
    var local = window.localStorage;
    var code = null;      // the code shown, as the API answered it
    var skew = 0;         // the gateway's clock less this one, in ms
    var fetching = false, retryAt = 0;
    var lastNote = null;  // the newest notification id seen
    var charge = null;    // the charge whose prompt is shown
    var busy = false;     // a confirm or decline is on its way
    var confirms = {};    // the operation of confirming each charge
    var answered = {};    // the charges confirmed or declined here, by order id
    var box = $("paycode-box");

    function now() { return Date.now() + skew; }

    // clock follows the gateway's Date header, whose one-second resolution
    // says nothing about a smaller gap.
    function clock(date) {
      var d = Date.parse(date || "");
      if (!isNaN(d)) skew = Math.abs(d + 500 - Date.now()) > 2000 ? d + 500 - Date.now() : 0;
    }

    function setState(state) {
      box.dataset.state = state;
      $("paycode-used").hidden = state !== "spent";
    }

    // stepStart is when the shown code's step began: it is accepted in that
    // step and the next, until expires_at.
    function stepStart() { return Date.parse(code.expires_at) - 2 * STEP; }

    function group(digits) { return digits.replace(/(\d{4})(?=\d)/g, "$1 "); }

    function fetchCode() {
      var card = $("paycode-card").value;
      if (!card) return;
      fetching = true;
      api("POST", "/v1/wallet/payment-codes", { device_id: deviceID(), funding: $("paycode-funding").value, card_id: card })
        .then(function (r) {
          fetching = false;
          clock(r.date);
          if (r.status !== 200) {
            code = null;
            setState("loading");
            $("paycode-digits").textContent = "";
            // A refusal stands until the choice changes; an outage passes.
            retryAt = r.status >= 500 ? now() + 5000 : Infinity;
            tick();
            return fail(r);
          }
          showError("");
          if (!code || code.code !== r.body.code) {
            $("paycode-digits").textContent = group(r.body.code);
            $("paycode-barcode").src = "data:image/png;base64," + r.body.barcode_png;
            $("paycode-qr").src = "data:image/png;base64," + r.body.qr_png;
            setState("ready");
          }
          code = r.body;
          // The same code again means the gateway's step has not turned yet.
          retryAt = now() + 1000;
          tick();
        }, function () {
          fetching = false;
          retryAt = now() + 5000;
        });
    }

    // tick runs every second: the countdown, and a new code once the
    // gateway's step turns (30 seconds before the shown one expires).
    function tick() {
      if (!code) {
        $("paycode-countdown").textContent = $("paycode-card").value ? "" : T.wallet_no_cards;
        if (!fetching && $("paycode-card").value && now() >= retryAt) fetchCode();
        return;
      }
      var next = stepStart() + STEP;
      if (now() >= Date.parse(code.expires_at)) {
        setState("stale");
        $("paycode-countdown").textContent = T.paycode_stale;
      } else {
        $("paycode-countdown").textContent = fmt(T.paycode_refresh, Math.max(0, Math.ceil((next - now()) / 1000)));
      }
      if (!fetching && now() >= next && now() >= retryAt) fetchCode();
    }

    // mine reports whether a charge spent a code of this device (its
    // payment_code): the wallet's other payments, and charges of codes its
    // other devices show, are not this screen's.
    function mine(use) { return !!use && use.device_id === deviceID(); }

    // spent marks the shown code used when a charge spent it.
    function spent(use) {
      if (code && mine(use) && use.step === code.step && box.dataset.state === "ready") setState("spent");
    }

    function showResult(title, lines, declined) {
      var r = $("paycode-result");
      r.textContent = "";
      r.className = "card result" + (declined ? " declined" : "");
      var h = document.createElement("h2");
      h.textContent = title;
      r.appendChild(h);
      lines.forEach(function (l) {
        var p = document.createElement("p");
        p.textContent = l[0];
        p.className = l[1];
        r.appendChild(p);
      });
    }

    function showPaid(amount, currency, merchant) {
      showResult(T.wallet_paid_title, [[yuan(Math.abs(amount), currency), "balance"], [fmt(T.wallet_to_merchant, merchant), "merchant"]]);
    }

    // showDeclined says a charge of this device's code was declined, and why.
    function showDeclined(n) {
      showResult(T.paycode_declined_title, [[yuan(Math.abs(n.amount || 0), n.currency), "balance"],
        [fmt(T.wallet_to_merchant, n.counterparty || ""), "merchant"],
        [T["code_" + n.reason] || T.code_other, "reason"]], true);
    }

    // showCharge prompts for the oldest charge that waits (a list read
    // before this page answered one may still hold it), or hides the prompt.
    function showCharge(list) {
      var c = list.filter(function (x) { return !answered[x.order_id] && mine(x.payment_code); })[0] || null;
      if (busy || (charge && c && charge.order_id === c.order_id)) return;
      charge = c;
      if (!c) {
        $("charge").hidden = true;
        return;
      }
      $("charge-merchant").textContent = fmt(T.wallet_to_merchant, c.merchant);
      $("charge-amount").textContent = yuan(c.amount, c.currency);
      $("charge-help").textContent = (c.description ? c.description + " · " : "") + T.charge_help + " " +
        fmt(T.charge_by, new Date(c.confirm_by).toLocaleTimeString());
      $("charge-pin").value = "";
      $("paycode-result").textContent = ""; // the last charge's result: this one matters now
      $("charge").hidden = false;
      $("charge-pin").focus();
    }

    function setBusy(b) {
      busy = b;
      $("charge-confirm").disabled = b;
      $("charge-decline").disabled = b;
    }

    function poll() {
      if (document.hidden) return;
      // A poll that gets no answer is the next one's to make.
      var quiet = function () {};
      api("GET", "/v1/wallet/payment-codes/charges").then(function (r) {
        if (r.status === 200) showCharge(r.body.data);
      }, quiet);
      api("GET", "/v1/wallet/notifications?limit=20").then(function (r) {
        if (r.status !== 200) return;
        var list = r.body.data;
        var fresh = lastNote === null ? [] : list.filter(function (n) { return n.id > lastNote; }).reverse();
        lastNote = Math.max(lastNote || 0, list.length ? list[0].id : 0);
        // Only the charges of this device's codes are this screen's.
        fresh.filter(function (n) { return mine(n.payment_code); }).forEach(function (n) {
          spent(n.payment_code);
          if (n.type === "payment") showPaid(n.amount, n.currency, n.counterparty || "");
          if (n.type === "charge_declined") showDeclined(n);
        });
      }, quiet);
    }

    $("charge-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!charge || busy) return;
      var c = charge;
      var op = confirms[c.order_id] = confirms[c.order_id] || operation();
      showError("");
      setBusy(true);
      op.run(op.begin("/v1/wallet/payment-codes/charges/" + encodeURIComponent(c.order_id) + "/confirm",
        { pin: $("charge-pin").value })).then(function (r) {
        setBusy(false);
        if (!r) return;
        if (r.status !== 201) {
          $("charge-pin").value = "";
          $("charge-pin").focus();
          return fail(r);
        }
        answered[c.order_id] = true;
        showCharge([]);
        showPaid(r.body.amount, r.body.currency, r.body.counterparty || c.merchant);
      });
    });

    $("charge-decline").addEventListener("click", function () {
      if (!charge || busy) return;
      var c = charge;
      showError("");
      setBusy(true);
      api("POST", "/v1/wallet/payment-codes/charges/" + encodeURIComponent(c.order_id) + "/decline").then(function (r) {
        setBusy(false);
        if (r.status !== 204) return fail(r);
        answered[c.order_id] = true;
        showCharge([]);
        showResult(fmt(T.wallet_declined, yuan(c.amount, c.currency), c.merchant), [], true);
      }, function () { setBusy(false); noAnswer(); });
    });

    // The funding source and card are remembered with the device.
    function choose() {
      local.setItem("qrpay.paycode", JSON.stringify({ funding: $("paycode-funding").value, card: $("paycode-card").value }));
      code = null;
      setState("loading");
      $("paycode-digits").textContent = "";
      retryAt = 0;
      tick();
    }
    $("paycode-funding").addEventListener("change", choose);
    $("paycode-card").addEventListener("change", choose);

    poll();
    window.setInterval(poll, POLL);
    document.addEventListener("visibilitychange", poll);
    loadCards().then(function () {
      var saved = {};
      try { saved = JSON.parse(local.getItem("qrpay.paycode") || "{}"); } catch (e) { saved = {}; }
      var option = function (select, value) {
        return Array.prototype.filter.call($(select).options, function (o) { return o.value === value && !o.disabled; })[0];
      };
      if (option("paycode-funding", saved.funding)) $("paycode-funding").value = saved.funding;
      if (option("paycode-card", saved.card)) $("paycode-card").value = saved.card;
      var sel = $("paycode-card").selectedOptions[0];
      if (sel && sel.disabled) {
        var usable = $("paycode-card").querySelector("option:not([disabled])");
        $("paycode-card").value = usable ? usable.value : "";
      }
      tick();
      window.setInterval(tick, 1000);
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
