// The simulator's stand-in for DingTalk's embedded-login script (`DTFrameLogin`,
// docs/dingtalk-api.md §10): it checks its arguments as the real one does, frames the
// simulator's login page in embedded mode, and passes on what that frame posts, from the
// simulator's origin only. The frame posts to the origin of `redirect_uri`, so a page on another
// origin hears nothing (DingTalk: "扫码后会没有反应").
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = script ? new URL(script.src).origin : "";
  var REQUIRED = ["redirect_uri", "response_type", "client_id", "scope", "prompt"];

  window.DTFrameLogin = function (frame, params, onSuccess, onError) {
    function fail(message) {
      if (typeof onError === "function") { onError(message); }
    }
    var box = frame && frame.id ? document.getElementById(frame.id) : null;
    if (!box) { fail("DTFrameLogin: no element with the given id"); return; }
    params = params || {};
    for (var i = 0; i < REQUIRED.length; i++) {
      if (!params[REQUIRED[i]]) { fail("DTFrameLogin: " + REQUIRED[i] + " is required"); return; }
    }
    var query = new URLSearchParams();
    Object.keys(params).forEach(function (key) {
      // redirect_uri arrives encoded once already (§10); the others as they are.
      var value = key === "redirect_uri" ? decodeURIComponent(params[key]) : String(params[key]);
      query.set(key, value);
    });
    query.set("embed", "1");
    var iframe = document.createElement("iframe");
    iframe.src = origin + "/oauth2/auth?" + query.toString();
    iframe.width = String(Math.max(280, frame.width || 300));
    iframe.height = String(Math.max(280, frame.height || 300));
    iframe.title = "DingTalk QR login";
    iframe.setAttribute("frameborder", "0");
    box.appendChild(iframe);
    window.addEventListener("message", function (event) {
      if (event.origin !== origin || !event.data || !event.data.authCode) { return; }
      onSuccess({ redirectUrl: event.data.redirectUrl, authCode: event.data.authCode, state: event.data.state });
    });
  };
})();
