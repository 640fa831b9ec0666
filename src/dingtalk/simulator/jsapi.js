// The simulator's stand-in for DingTalk's JSAPI script (docs/dingtalk-api.md §9.1, §9.4): the
// parts of `window.dd` that sign-in inside DingTalk uses, with the real SDK's rules for telling
// DingTalk apart from a browser. Inside DingTalk the native client would hand out the code; here
// the simulator does, to the user named by `window.__DTSIM__ = {user: "<login>"}` (set before
// this script loads) or by the `dtsim_user` cookie that `/__sim/as?user=<login>` sets.
(function () {
  "use strict";
  var ua = navigator.userAgent || "";
  var dingtalk = /DingTalk/i.test(ua);
  var platform = "notInDingTalk";
  if (dingtalk && /iPhone|iPad|iPod|iOS/i.test(ua)) {
    platform = "ios";
  } else if (dingtalk && /Android/i.test(ua)) {
    platform = "android";
  } else if (dingtalk && pcContainer()) {
    platform = "pc";
  }
  var inside = platform !== "notInDingTalk";
  var script = document.currentScript;
  var origin = script ? new URL(script.src).origin : "";

  // The real SDK says "pc" only inside DingTalk's desktop container: a UA alone is not enough.
  function pcContainer() {
    try {
      if (JSON.parse(window.name || "{}").containerId) {
        return true;
      }
    } catch (e) {}
    return !!(window.dingtalk && window.dingtalk.platform && window.dingtalk.platform.invokeAPI);
  }

  function outside() {
    return new Error("[DINGTALK-JSAPI] ERROR 4040: Do not support the current environment\uff1a'notInDingTalk'");
  }

  function requestAuthCode(params, v2) {
    params = params || {};
    var success = params.onSuccess || params.success;
    var fail = params.onFail || params.fail;
    var complete = params.complete;
    // Outside DingTalk no callback runs; only the promise rejects.
    if (!inside) {
      return Promise.reject(outside());
    }
    var sim = window.__DTSIM__ || {};
    var body = {
      corpId: params.corpId,
      clientId: v2 ? params.clientId : undefined,
      pageUrl: location.href.split("#")[0],
      user: sim.user,
      fail: sim.fail
    };
    return fetch(origin + "/__sim/jsapi/authcode", {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body)
    })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (answer.code) {
          var result = { code: answer.code };
          if (success) { success(result); }
          if (complete) { complete(result); }
          return result;
        }
        if (fail) { fail(answer); }
        if (complete) { complete(answer); }
        throw answer;
      });
  }

  window.dd = {
    env: { platform: platform },
    other: !inside,
    ready: function (callback) {
      if (inside) {
        setTimeout(callback, 0);
      }
    },
    error: function () {},
    requestAuthCode: function (params) { return requestAuthCode(params, true); },
    runtime: { permission: { requestAuthCode: function (params) { return requestAuthCode(params, false); } } }
  };
})();
