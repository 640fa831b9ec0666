"""Log in through the DingTalk simulator in headless Chromium (Selenium), end to end.

Run by scripts/browser-test.sh, which starts the provider (`serve --dev`), registers the confidential,
not first-party client, starts tests/browser/rp.py and passes everything in the environment:

  PROVIDER_URL     the issuer, e.g. http://127.0.0.1:41234
  RP_URL           the relying party, e.g. http://127.0.0.1:41236 (serves /callback, GET or POST, and /bye)
  CLIENT_ID        browser-rp
  CLIENT_SECRET    its secret
  SCREENSHOT_DIR   where the PNGs go
  CHROMIUM_PROFILE a fresh --user-data-dir (the browser without JavaScript uses <it>-nojs)
  DEMO_URL         the demo app's URL as `serve --dev` printed it (first banner line)
  ADMIN_TOKEN      the admin API token `serve --dev` printed for this run

The script also maps DingTalk org admins to role `admin` and DingTalk role 1201 (Carol) to
`auditor`, so that the console steps sign in Alice as an admin and Carol as an auditor.

Plain Python with asserts: each step below is one test; steps run in order and share the browser
(later steps need the session or the tokens of earlier ones). The last line is
`browser: N passed, M failed`; the exit status is 1 if anything failed.
"""

import base64
import hashlib
import json
import os
import secrets
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PROVIDER = os.environ["PROVIDER_URL"].rstrip("/")
RP = os.environ["RP_URL"].rstrip("/")
CLIENT_ID = os.environ.get("CLIENT_ID", "browser-rp")
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
SHOTS = os.environ["SCREENSHOT_DIR"]
PROFILE = os.environ["CHROMIUM_PROFILE"]
DEMO = os.environ["DEMO_URL"].rstrip("/")
ADMIN_TOKEN = os.environ["ADMIN_TOKEN"]
# A second provider with DingTalk's QR code on its own sign-in page (dingtalk.qr_login).
QR_PROVIDER = os.environ["QR_PROVIDER_URL"].rstrip("/")
QR_CLIENT_SECRET = os.environ["QR_CLIENT_SECRET"]
CLIENT_NAME = "Browser Test RP"  # the script registers the client with --name "Browser Test RP"
REDIRECT_URI = f"{RP}/callback"
POST_LOGOUT_URI = f"{RP}/bye"
SESSION_COOKIE = "dtoidc_session"
WAIT = 20  # seconds for any one page to arrive

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,800",
]


# --- helpers ----------------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(state: str, challenge: str, **extra: str) -> str:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid profile",
        "state": state,
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{PROVIDER}/authorize?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"


def query_of(url: str) -> dict[str, str]:
    pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), f"repeated parameter in {url}"
    return dict(pairs)


def jwt_payload(token: str) -> dict:
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWS compact serialization: {token[:40]}…"
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(body))


def discovery() -> dict:
    with urllib.request.urlopen(f"{PROVIDER}/.well-known/openid-configuration", timeout=10) as resp:
        return json.load(resp)


class Browser:
    def __init__(self, profile: str = PROFILE, javascript: bool = True, user_agent: str | None = None) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        if user_agent:
            options.add_argument(f"--user-agent={user_agent}")
        if not javascript:
            # Chromium's content setting "JavaScript: blocked" (2), as a user or a policy sets it.
            options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        # The console, for pages whose script a Content-Security-Policy must allow (admin docs).
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The system chromedriver, given explicitly: Selenium Manager never runs (SE_OFFLINE too).
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(WAIT)

    def get(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return self.driver.current_url

    def wait_url(self, prefix: str, what: str) -> str:
        try:
            WebDriverWait(self.driver, WAIT).until(lambda d: d.current_url.startswith(prefix))
        except TimeoutException:
            raise AssertionError(f"never reached {what} ({prefix}); stuck at {self.url}") from None
        return self.url

    def wait_for(self, by: str, value: str, what: str):
        try:
            return WebDriverWait(self.driver, WAIT).until(lambda d: d.find_element(by, value))
        except TimeoutException:
            raise AssertionError(f"no {what} on {self.url}: {self.text()[:300]!r}") from None

    def submit(self, by: str, value: str, what: str) -> None:
        """Clicks a control that loads a new page and waits until the old page is gone, so that
        what is read next comes from the new one (an element of the same id on the old page
        would otherwise be found first, then go stale under the reader)."""
        control = self.wait_for(by, value, what)
        control.click()

        def gone(_driver) -> bool:
            try:
                control.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as e:
                # Chromium sometimes answers a query about a node of the page just left with this
                # DevTools error instead of "stale element": the page is gone all the same.
                if "does not belong to the document" in str(e):
                    return True
                raise

        try:
            WebDriverWait(self.driver, WAIT).until(gone)
        except TimeoutException:
            raise AssertionError(f"{what} loaded no new page; still at {self.url}") from None

    def h1(self) -> str:
        return self.wait_for(By.TAG_NAME, "h1", "heading").text.strip()

    def text(self) -> str:
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except Exception:  # noqa: BLE001 (a page without body, or the browser went away)
            return ""

    def shot(self, name: str) -> str:
        path = os.path.join(SHOTS, name)
        assert self.driver.save_screenshot(path), f"screenshot {path} failed"
        return path

    def cookies(self) -> dict[str, dict]:
        """The cookies the browser would send to the provider (visits the provider's origin)."""
        if not self.url.startswith(PROVIDER + "/"):
            self.get(f"{PROVIDER}/.well-known/openid-configuration")
        return {c["name"]: c for c in self.driver.get_cookies()}

    def quit(self) -> None:
        self.driver.quit()


def click_alice(b: Browser) -> None:
    """At the simulator's account chooser, click the link for Alice."""
    link = b.wait_for(By.PARTIAL_LINK_TEXT, "Alice", "link for Alice (simulator login page)")
    assert "simulator" in b.driver.title.lower(), f"not the simulator's page: {b.driver.title!r}"
    link.click()


def sign_in_to_rp_as_bob(bob: "Browser", state: str) -> dict:
    """Bob, in his own browser, signs in to the RP (simulator login, consent) and the RP exchanges
    the code: the token response."""
    verifier, challenge = pkce()
    bob.get(authorize_url(state, challenge))
    bob.wait_for(By.PARTIAL_LINK_TEXT, "Bob", "link for Bob (simulator login page)").click()
    click_button(bob, "Allow")
    q = query_of(bob.wait_url(REDIRECT_URI + "?", "the RP callback for Bob"))
    assert q.get("state") == state, f"state {q.get('state')!r}"
    return exchange(q["code"], verifier)


def click_button(b: Browser, label: str) -> None:
    button = b.wait_for(By.XPATH, f"//button[normalize-space()='{label}']", f"button {label!r}")
    button.click()


# --- the steps --------------------------------------------------------------------------------

STEPS = []


def step(fn):
    STEPS.append(fn)
    return fn


class State:
    verifier = ""
    code = ""
    id_token = ""
    demo_sub = ""
    demo_jti = ""


@step
def login_with_consent(b: Browser, s: State) -> None:
    """Authorize → simulator: click Alice → consent page (screenshot) → Allow → RP callback."""
    s.verifier, challenge = pkce()
    b.get(authorize_url("s1", challenge))
    b.wait_for(By.PARTIAL_LINK_TEXT, "Alice", "simulator login page")
    b.shot("login.png")
    click_alice(b)

    b.wait_for(By.XPATH, "//button[normalize-space()='Allow']", "consent page")
    assert b.url.startswith(PROVIDER + "/"), f"consent page not on the provider: {b.url}"
    b.shot("consent.png")
    heading, text = b.h1(), b.text()
    assert CLIENT_NAME in heading, f"consent heading lacks the client's name: {heading!r}"
    assert "Alice" in text, f"consent page does not say who is signed in: {text!r}"
    listed = sorted(e.text.strip() for e in b.driver.find_elements(By.CSS_SELECTOR, "li code"))
    assert listed == ["openid", "profile"], f"consent page lists scopes {listed}: {text!r}"
    click_button(b, "Allow")

    url = b.wait_url(REDIRECT_URI + "?", "the RP callback")
    b.shot("callback.png")
    q = query_of(url)
    assert q.get("code"), f"no code in {url}"
    assert q.get("state") == "s1", f"state {q.get('state')!r} in {url}"
    assert q.get("iss") == PROVIDER, f"iss {q.get('iss')!r} in {url} (want {PROVIDER})"
    assert "error" not in q, f"error in {url}"
    assert "RP callback" in b.h1(), "the RP did not serve the callback page"
    s.code = q["code"]


@step
def code_exchange(b: Browser, s: State) -> None:
    """POST /token with client_secret_basic and the PKCE verifier: an ID token comes back."""
    assert s.code, "no code from the login step"
    token_endpoint = discovery()["token_endpoint"]
    basic = base64.b64encode(
        f"{urllib.parse.quote(CLIENT_ID, safe='')}:{urllib.parse.quote(CLIENT_SECRET, safe='')}".encode()
    ).decode()
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": s.code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": s.verifier,
        }
    ).encode()
    req = urllib.request.Request(
        token_endpoint,
        data=form,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.load(resp)
            cache = resp.headers.get("Cache-Control", "")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"/token answered {e.code}: {e.read()[:300]!r}") from None
    assert body.get("token_type", "").lower() == "bearer", body
    assert body.get("access_token"), body
    assert body.get("id_token"), f"no id_token: {body}"
    assert "no-store" in cache, f"token response Cache-Control: {cache!r}"
    claims = jwt_payload(body["id_token"])
    assert claims.get("iss") == PROVIDER, claims
    aud = claims.get("aud")
    assert aud == CLIENT_ID or (isinstance(aud, list) and CLIENT_ID in aud), claims
    assert claims.get("nonce") == "n1", claims
    assert claims.get("sub"), claims
    s.id_token = body["id_token"]


@step
def session_cookie_attributes(b: Browser, s: State) -> None:
    """dtoidc_session: HttpOnly, SameSite=Lax; over http no Secure and no __Host- prefix."""
    cookies = b.cookies()
    assert SESSION_COOKIE in cookies, f"no {SESSION_COOKIE} cookie; have {sorted(cookies)}"
    for name, c in cookies.items():
        if not name.startswith(("dtoidc_", "__Host-")):
            continue
        assert not name.startswith("__Host-"), f"{name}: __Host- prefix over http"
        assert c.get("httpOnly") is True, f"{name} is not HttpOnly: {c}"
        assert c.get("sameSite") == "Lax", f"{name} is not SameSite=Lax: {c}"
        assert c.get("secure") is False, f"{name} is Secure over http: {c}"
        assert c.get("path") == "/", f"{name} path: {c}"
        assert c.get("domain") == "127.0.0.1", f"{name} domain: {c}"


@step
def logout_with_hint(b: Browser, s: State) -> None:
    """/logout with id_token_hint → the registered post-logout URI with state; then prompt=none fails."""
    assert s.id_token, "no id_token from the code exchange"
    params = urllib.parse.urlencode(
        {"id_token_hint": s.id_token, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "bye1"}
    )
    b.get(f"{PROVIDER}/logout?{params}")
    url = b.wait_url(POST_LOGOUT_URI, "the post-logout redirect URI")
    assert url == f"{POST_LOGOUT_URI}?state=bye1", f"after logout: {url}"
    assert SESSION_COOKIE not in b.cookies(), "the session cookie outlived the logout"

    _, challenge = pkce()
    b.get(authorize_url("s2", challenge, prompt="none"))
    url = b.wait_url(REDIRECT_URI + "?", "the RP callback (prompt=none)")
    q = query_of(url)
    assert q.get("error") == "login_required", f"prompt=none after logout: {url}"
    assert q.get("state") == "s2", f"state in {url}"
    assert "code" not in q, f"a code after logout: {url}"


@step
def error_page_does_not_redirect(b: Browser, s: State) -> None:
    """An unknown client with a foreign redirect_uri: an error page at the provider, no redirect."""
    b.get(f"{PROVIDER}/authorize?client_id=nobody&redirect_uri=https://evil.example/")
    heading = b.h1()
    b.shot("error.png")
    parts = urllib.parse.urlsplit(b.url)
    assert "evil.example" not in parts.netloc, f"navigated to {b.url}"
    assert f"{parts.scheme}://{parts.netloc}" == PROVIDER, f"left the provider: {b.url}"
    assert "invalid" in heading.lower(), f"error page heading: {heading!r}"


@step
def logout_without_hint_asks(b: Browser, s: State) -> None:
    """Log in again (consent already recorded), then /logout without parameters → confirm → signed out."""
    _, challenge = pkce()
    b.get(authorize_url("s3", challenge))
    click_alice(b)
    try:
        WebDriverWait(b.driver, WAIT).until(
            lambda d: d.current_url.startswith(REDIRECT_URI + "?")
            or d.find_elements(By.XPATH, "//button[normalize-space()='Allow']")
        )
    except TimeoutException:
        raise AssertionError(f"neither consent nor callback after the second login: {b.url}") from None
    if not b.url.startswith(REDIRECT_URI):
        print("  note: the consent page was shown again on the second login", flush=True)
        click_button(b, "Allow")
    url = b.wait_url(REDIRECT_URI + "?", "the RP callback (second login)")
    q = query_of(url)
    assert q.get("code") and q.get("state") == "s3", f"second login: {url}"
    assert SESSION_COOKIE in b.cookies(), "no session after the second login"

    b.get(f"{PROVIDER}/logout")
    button = b.wait_for(By.XPATH, "//form//button[normalize-space()='Sign out']", "sign-out confirmation form")
    b.shot("logout-confirm.png")
    form = b.driver.find_element(By.TAG_NAME, "form")
    assert form.get_attribute("method").lower() == "post", "the confirmation form is not a POST"
    assert b.driver.find_elements(By.NAME, "csrf_token"), "the confirmation form has no CSRF token"
    button.click()
    b.wait_for(By.XPATH, "//h1[contains(., 'signed out')]", "signed-out page")
    b.shot("signed-out.png")
    assert b.url.startswith(PROVIDER + "/"), f"signed-out page not at the provider: {b.url}"
    assert SESSION_COOKIE not in b.cookies(), "the session cookie outlived the confirmed logout"


def posted_params(b: Browser) -> dict[str, str]:
    """The parameters the RP's page shows for a POST to its /callback (tests/browser/rp.py)."""
    heading = b.h1()
    assert heading == "RP callback (POST)", f"the RP did not receive a POST at /callback: {heading!r} at {b.url}"
    assert b.url == REDIRECT_URI, f"the answer is in the URL, not the POST body: {b.url}"
    rows = b.driver.find_elements(By.CSS_SELECTOR, "#params tr")
    pairs = [(r.find_element(By.TAG_NAME, "th").text, r.find_element(By.TAG_NAME, "td").text) for r in rows]
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), f"repeated parameter in the POST: {names}"
    return dict(pairs)


def post_token(fields: dict[str, str]) -> tuple[int, dict]:
    """POST /token with these form fields; returns the status and the JSON body."""
    req = urllib.request.Request(
        discovery()["token_endpoint"],
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def exchange(code: str, verifier: str) -> dict:
    """POST /token with client_secret_post; returns the token response (asserts an ID token)."""
    status, body = post_token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    )
    assert status == 200, f"/token answered {status}: {body}"
    assert body.get("id_token"), f"no id_token: {body}"
    return body


def login_until_rp(b: Browser, url: str, what: str) -> None:
    """Authorize at `url`, sign in as Alice, allow on the consent page if it is shown, until the RP
    answers (or, without JavaScript, until the form_post page's Continue button is there)."""
    b.get(url)
    click_alice(b)
    try:
        WebDriverWait(b.driver, WAIT).until(
            lambda d: d.current_url.startswith(REDIRECT_URI)
            or d.find_elements(By.XPATH, "//button[normalize-space()='Allow' or normalize-space()='Continue']")
        )
    except TimeoutException:
        raise AssertionError(f"neither consent, the form_post page nor the RP after {what}: {b.url}") from None
    if b.driver.find_elements(By.XPATH, "//button[normalize-space()='Allow']"):
        click_button(b, "Allow")


@step
def form_post_with_javascript(b: Browser, s: State) -> None:
    """response_mode=form_post: the provider's page submits itself; the RP gets code, state, iss by POST."""
    assert "form_post" in discovery().get("response_modes_supported", []), "form_post not in discovery"
    verifier, challenge = pkce()
    login_until_rp(b, authorize_url("fp1", challenge, response_mode="form_post"), "a form_post login")
    b.wait_for(By.XPATH, "//h1[normalize-space()='RP callback (POST)']", "the RP's POST callback page")
    b.shot("form-post-callback.png")
    p = posted_params(b)
    assert p.get("state") == "fp1", f"state in the POST: {p}"
    assert p.get("iss") == PROVIDER, f"iss in the POST: {p} (want {PROVIDER})"
    assert p.get("code") and "error" not in p, f"no code in the POST: {p}"
    claims = jwt_payload(exchange(p["code"], verifier)["id_token"])
    assert claims.get("nonce") == "n1" and claims.get("iss") == PROVIDER, claims


@step
def form_post_without_javascript(b: Browser, s: State) -> None:
    """A second Chromium with JavaScript blocked: the form_post page shows Continue; clicking it completes."""
    nojs = Browser(profile=f"{PROFILE}-nojs", javascript=False)
    try:
        verifier, challenge = pkce()
        login_until_rp(nojs, authorize_url("fp2", challenge, response_mode="form_post"), "a login without JavaScript")
        button = nojs.wait_for(By.XPATH, "//form//button[normalize-space()='Continue']", "the Continue button")
        assert nojs.url.startswith(PROVIDER + "/"), f"the form_post page is not the provider's: {nojs.url}"
        assert button.is_displayed(), "the Continue button is not visible without JavaScript"
        form = nojs.driver.find_element(By.TAG_NAME, "form")
        assert form.get_attribute("method").lower() == "post", "the form_post page's form is not a POST"
        assert form.get_attribute("action") == REDIRECT_URI, f"the form posts to {form.get_attribute('action')}"
        nojs.shot("form-post-nojs.png")
        button.click()
        nojs.wait_for(By.XPATH, "//h1[normalize-space()='RP callback (POST)']", "the RP's POST callback page")
        nojs.shot("form-post-nojs-callback.png")
        p = posted_params(nojs)
        assert p.get("state") == "fp2" and p.get("iss") == PROVIDER and p.get("code"), f"the POST: {p}"
        exchange(p["code"], verifier)
    finally:
        nojs.quit()


@step
def demo_sign_in(b: Browser, s: State) -> None:
    """The demo app at the printed URL: Sign in with DingTalk → Alice → consent → her verified claims."""
    b.get(DEMO + "/")
    b.wait_for(By.ID, "sign-in", "the demo's sign-in button").click()
    # The simulator asks who signs in unless a session is still open; the consent page comes
    # either way (the demo sends prompt=consent to get a refresh token, OIDC Core §11).
    try:
        WebDriverWait(b.driver, WAIT).until(
            lambda d: d.find_elements(By.PARTIAL_LINK_TEXT, "Alice")
            or d.find_elements(By.XPATH, "//button[normalize-space()='Allow']")
        )
    except TimeoutException:
        raise AssertionError(f"neither the simulator nor the consent page: {b.url}") from None
    if b.driver.find_elements(By.PARTIAL_LINK_TEXT, "Alice"):
        click_alice(b)
    b.wait_for(By.XPATH, "//button[normalize-space()='Allow']", "consent page for the demo")
    assert "Demo app" in b.h1(), f"consent heading: {b.h1()!r}"
    click_button(b, "Allow")

    b.wait_url(DEMO + "/", "the demo app")
    heading = b.h1()
    assert heading == "Signed in as Alice", f"demo heading: {heading!r}"
    claims = json.loads(b.wait_for(By.ID, "id-token-claims", "ID token claims").text)
    assert claims.get("name") == "Alice", claims
    assert claims.get("iss") == PROVIDER and claims.get("aud") == "demo", claims
    assert claims.get("email") == "alice@example.com", claims
    sub = b.driver.find_element(By.ID, "sub").text
    assert sub and claims.get("sub") == sub, f"sub on the page {sub!r}, in the claims {claims.get('sub')!r}"
    userinfo = json.loads(b.driver.find_element(By.ID, "userinfo").text)
    assert userinfo.get("sub") == sub and userinfo.get("name") == "Alice", userinfo
    access = json.loads(b.driver.find_element(By.ID, "access-token-claims").text)
    assert access.get("client_id") == "demo" and "offline_access" in access.get("scope", ""), access
    header = json.loads(b.driver.find_element(By.ID, "id-token-header").text)
    assert header.get("alg") == "RS256" and header.get("kid"), header
    # The README's picture: written every run (scripts/browser-test.sh copies it to docs/).
    b.shot("demo.png")
    s.demo_sub, s.demo_jti = sub, access["jti"]


@step
def demo_refresh(b: Browser, s: State) -> None:
    """Refresh: a notice, and a new access token for the same user."""
    b.submit(By.ID, "refresh", "Refresh button")
    notice = b.wait_for(By.ID, "notice", "the refresh outcome").text
    assert notice.startswith("Refreshed"), f"after Refresh: {notice!r}"
    access = json.loads(b.wait_for(By.ID, "access-token-claims", "access token claims").text)
    assert access.get("jti") and access["jti"] != s.demo_jti, "the access token did not change"
    assert access.get("sub") == s.demo_sub, access
    assert json.loads(b.driver.find_element(By.ID, "id-token-claims").text).get("sub") == s.demo_sub


@step
def demo_revoke(b: Browser, s: State) -> None:
    """Revoke (RFC 7009): the page shows that a refresh with the revoked token fails."""
    b.submit(By.ID, "revoke", "Revoke button")
    notice = b.wait_for(By.ID, "notice", "the revocation outcome").text
    assert notice.startswith("Revoked") and "invalid_grant" in notice, f"after Revoke: {notice!r}"
    assert not b.driver.find_elements(By.ID, "refresh"), "a Refresh button without a refresh token"


@step
def demo_logout(b: Browser, s: State) -> None:
    """Log out: RP-initiated logout ends the provider's session and comes back to the demo."""
    b.submit(By.ID, "logout", "Log out button")
    b.wait_url(DEMO + "/signed-out?", "the demo's post-logout page")
    notice = b.wait_for(By.ID, "notice", "the logout outcome").text
    assert "Signed out of the demo and of the provider" in notice, notice
    assert b.driver.find_elements(By.ID, "sign-in"), "no way to sign in again"
    assert SESSION_COOKIE not in b.cookies(), "the provider's session outlived the demo's logout"


@step
def admin_docs_try_it_out(b: Browser, s: State) -> None:
    """/admin/docs renders every admin operation; with the printed token, GET /clients answers 200."""
    with urllib.request.urlopen(f"{PROVIDER}/admin/v1/openapi.json", timeout=10) as resp:
        spec = json.load(resp)
    b.get(f"{PROVIDER}/admin/docs")
    b.wait_for(By.CSS_SELECTOR, ".opblock-summary-path", "an operation in Swagger UI")
    paths = {
        (e.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.lower(),
         e.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"))
        for e in b.driver.find_elements(By.CSS_SELECTOR, ".opblock-summary")
    }
    methods = {"get", "post", "put", "patch", "delete"}
    wanted = {(m, path) for path, item in spec["paths"].items() for m in item if m in methods}
    assert wanted and wanted <= paths, f"operations missing from the page: {sorted(wanted - paths)}"
    b.shot("admin-docs.png")

    b.wait_for(By.CSS_SELECTOR, "button.authorize", "Authorize button").click()
    field = b.wait_for(By.CSS_SELECTOR, ".modal-ux input", "the token field")
    field.send_keys(ADMIN_TOKEN)
    b.driver.find_element(By.CSS_SELECTOR, ".modal-ux button.modal-btn.auth").click()
    b.wait_for(By.CSS_SELECTOR, ".modal-ux button.btn-done", "Close button").click()

    summary = b.wait_for(
        By.XPATH,
        "//div[contains(@class,'opblock-get')]//*[contains(@class,'opblock-summary-path') and @data-path='/clients']",
        "GET /clients",
    )
    summary.click()
    block = summary.find_element(By.XPATH, "./ancestor::div[contains(@class,'opblock-get')][1]")
    WebDriverWait(b.driver, WAIT).until(lambda d: block.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))
    block.find_element(By.CSS_SELECTOR, "button.try-out__btn").click()
    WebDriverWait(b.driver, WAIT).until(lambda d: block.find_elements(By.CSS_SELECTOR, "button.execute"))
    block.find_element(By.CSS_SELECTOR, "button.execute").click()
    try:
        status = WebDriverWait(b.driver, WAIT).until(
            lambda d: block.find_elements(By.CSS_SELECTOR, ".live-responses-table tr.response td.response-col_status")
        )[0]
    except TimeoutException:
        raise AssertionError(f"no response shown after Execute: {block.text[:300]!r}") from None
    b.driver.execute_script("arguments[0].scrollIntoView()", status)
    b.shot("admin-docs-try-it-out.png")
    assert status.text.strip() == "200", f"GET /clients from the docs answered {status.text!r}"
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response td.response-col_description").text
    assert '"demo"' in body, f"the demo client is not in the listing: {body[:300]!r}"
    blocked = [e["message"] for e in b.driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not blocked, f"the docs' policy blocked something: {blocked}"


@step
def account_withdraw_consent(b: Browser, s: State) -> None:
    """/account as Bob, in a Chromium with JavaScript blocked: the RP is listed as a connected app;
    Withdraw consent → the notice, the app is gone from the list and its refresh token now fails with
    invalid_grant (OIDC Core §3.1.2.4)."""
    bob = Browser(profile=f"{PROFILE}-account", javascript=False)
    try:
        tokens = sign_in_to_rp_as_bob(bob, "acct")
        assert tokens.get("refresh_token"), f"no refresh token: {tokens}"

        bob.get(f"{PROVIDER}/account")
        heading = bob.h1()
        assert heading == "Your account", f"account page heading {heading!r} at {bob.url}"
        assert not bob.driver.find_elements(By.TAG_NAME, "script"), "the account page runs no script"
        apps = bob.driver.find_elements(By.CSS_SELECTOR, f"li.app[data-client-id='{CLIENT_ID}']")
        assert apps and CLIENT_NAME in apps[0].text, f"the RP is not a connected app: {bob.text()[:500]!r}"
        assert bob.driver.find_elements(By.CSS_SELECTOR, "li.session.current"), "this browser's session is not marked"
        bob.shot("account.png")
        bob.submit(By.XPATH, f"//button[normalize-space()='Withdraw consent from {CLIENT_NAME}']", "Withdraw consent")
        notice = bob.wait_for(By.ID, "notice", "the notice after withdrawing").text
        assert "Consent withdrawn" in notice, f"notice {notice!r}"
        assert not bob.driver.find_elements(By.CSS_SELECTOR, f"li.app[data-client-id='{CLIENT_ID}']"), "still listed"
        bob.shot("account-withdrawn.png")
    finally:
        bob.quit()
    assert refresh_error(tokens["refresh_token"]) == "invalid_grant", "the refresh token still works"


def token_error(client_id: str, secret: str, redirect_uri: str) -> str:
    """How /token judges a client's secret: the `error` for a made-up code (invalid_grant when the
    secret is right, invalid_client when it is not)."""
    status, body = post_token(
        {
            "grant_type": "authorization_code",
            "code": "made-up",
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": secret,
        }
    )
    assert status != 200, "a made-up code was accepted"
    return body.get("error", "")


def refresh_error(refresh_token: str) -> str:
    """The `error` /token answers to a refresh with this token ("" if it worked)."""
    status, body = post_token(
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    )
    return "" if status == 200 else body.get("error", "")


def console_sign_in(b: Browser, person: str) -> None:
    """The console's sign-in page → Sign in with DingTalk → (the simulator, unless a session is open)
    → the overview."""
    b.get(f"{PROVIDER}/admin/")
    b.wait_url(f"{PROVIDER}/admin/login", "the console's sign-in page")
    b.submit(By.ID, "sign-in", "Sign in with DingTalk")
    WebDriverWait(b.driver, WAIT).until(
        lambda d: d.find_elements(By.ID, "overview") or d.find_elements(By.PARTIAL_LINK_TEXT, person)
    )
    if b.driver.find_elements(By.PARTIAL_LINK_TEXT, person):
        b.wait_for(By.PARTIAL_LINK_TEXT, person, f"link for {person}").click()
    b.wait_for(By.ID, "overview", "the console overview")
    assert not b.driver.find_elements(By.TAG_NAME, "script"), "the console runs no script"


CONSOLE_CLIENT = "console-made"
CONSOLE_CLIENT_REDIRECT = "https://app.example/callback"


@step
def console_admin_registers_a_client(b: Browser, s: State) -> None:
    """/admin/ as Alice (admin through the org-admin mapping rule): register a client; its secret is
    shown once, works at /token, and is not on the client's page."""
    b.get(f"{PROVIDER}/admin/login")
    b.wait_for(By.ID, "sign-in", "the console's sign-in link")
    b.shot("console-login.png")
    console_sign_in(b, "Alice")
    b.shot("console-overview.png")
    b.get(f"{PROVIDER}/admin/clients")
    b.wait_for(By.ID, "id", "the client id field").send_keys(CONSOLE_CLIENT)
    b.driver.find_element(By.ID, "name").send_keys("Made in the console")
    b.driver.find_element(By.ID, "redirect_uris").send_keys(CONSOLE_CLIENT_REDIRECT)
    b.submit(By.XPATH, "//button[normalize-space()='Register']", "Register")
    secret = b.wait_for(By.ID, "secret", "the new client's secret").text.strip()
    assert len(secret) >= 32, f"secret {secret!r}"
    b.shot("console-secret.png")
    assert token_error(CONSOLE_CLIENT, secret, CONSOLE_CLIENT_REDIRECT) == "invalid_grant", "the shown secret fails"
    assert token_error(CONSOLE_CLIENT, secret + "x", CONSOLE_CLIENT_REDIRECT) == "invalid_client"
    b.get(f"{PROVIDER}/admin/clients/{CONSOLE_CLIENT}")
    b.wait_for(By.ID, "client", "the client's page")
    assert secret not in b.driver.page_source, "the secret is shown a second time"
    b.shot("console-client.png")


@step
def console_rotate_key_changes_the_timeline(b: Browser, s: State) -> None:
    """/admin/keys: Rotate asks first; confirmed, a pending key appears on the SVG timeline."""
    b.get(f"{PROVIDER}/admin/keys")
    b.wait_for(By.CSS_SELECTOR, "#timeline svg", "the key timeline")
    pending = lambda: len(b.driver.find_elements(By.CSS_SELECTOR, "#timeline g.phase.pending"))  # noqa: E731
    before = pending()
    b.submit(By.ID, "rotate", "Rotate")
    b.wait_for(By.ID, "question", "the confirmation")
    b.shot("console-confirm.png")
    b.submit(By.ID, "confirm", "Yes, do it")
    notice = b.wait_for(By.ID, "notice", "the notice after rotating").text
    assert "new key is published" in notice, notice
    after = pending()
    assert after == before + 1, f"pending spans on the timeline: {before} before, {after} after"
    b.shot("console-keys.png")


@step
def console_disable_bob_ends_his_sessions(b: Browser, s: State) -> None:
    """Bob signs in to the RP in his own browser; Alice disables him in the console: his session is
    gone from his page, and his refresh token fails."""
    bob = Browser(profile=f"{PROFILE}-bob")
    try:
        tokens = sign_in_to_rp_as_bob(bob, "bob")
    finally:
        bob.quit()
    assert refresh_error(tokens["refresh_token"]) == "", "Bob's refresh token does not work to begin with"

    b.get(f"{PROVIDER}/admin/users?q=bob")
    b.submit(By.LINK_TEXT, "Bob", "Bob in the user list")
    rows = b.driver.find_elements(By.CSS_SELECTOR, "#sessions tr.session")
    # This browser's and the one of the account step.
    assert len(rows) == 2, f"Bob's sessions listed: {len(rows)}"
    b.submit(By.ID, "disable", "Disable")
    notice = b.wait_for(By.ID, "notice", "the notice after disabling").text
    assert "disabled" in notice, notice
    assert not b.driver.find_elements(By.CSS_SELECTOR, "#sessions tr.session"), "Bob's session is still listed"
    b.shot("console-user.png")
    assert refresh_error(tokens["refresh_token"]) == "invalid_grant", "Bob's refresh token still works"


@step
def console_auditor_reads_only(b: Browser, s: State) -> None:
    """Carol (auditor through an org-role mapping rule) sees every page and no write control; a
    write she submits anyway, with her own form token, is refused."""
    carol = Browser(profile=f"{PROFILE}-carol")
    try:
        console_sign_in(carol, "Carol")
        pages = {
            "/admin/": "console-auditor.png",
            "/admin/clients": "console-clients.png",
            f"/admin/clients/{CONSOLE_CLIENT}": None,
            "/admin/users": "console-users.png",
            "/admin/roles": "console-roles.png",
            "/admin/roles/admin?preview=1&kind=org_admin": "console-role-preview.png",
            "/admin/keys": None,
            "/admin/audit": "console-audit.png",
        }
        for path, shot in pages.items():
            carol.get(PROVIDER + path)
            carol.wait_for(By.TAG_NAME, "h1", f"the page {path}")
            posting = carol.driver.find_elements(By.CSS_SELECTOR, "form[method='post']")
            assert len(posting) == 1, f"{path}: {len(posting)} posting forms (only Sign out is expected)"
            assert "(read only)" in carol.text(), f"{path} does not say read only"
            if shot:
                carol.shot(shot)
        carol.get(f"{PROVIDER}/admin/roles/admin?preview=1&kind=org_admin")
        preview = carol.wait_for(By.ID, "preview-result", "the rule preview").text
        assert "Alice" in preview, f"the org-admin rule does not find Alice: {preview!r}"
        # Carol's own form token, on a form she builds herself (WebDriver's script is not the page's).
        carol.get(f"{PROVIDER}/admin/keys")
        token = carol.wait_for(By.NAME, "csrf_token", "the form token").get_attribute("value")
        carol.driver.execute_script(
            """const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
            for (const [k, v] of [['csrf_token', arguments[1]], ['action', 'rotate'], ['confirm', 'yes']]) {
              const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
            }
            document.body.appendChild(f); f.submit();""",
            f"{PROVIDER}/admin/keys",
            token,
        )
        heading = WebDriverWait(carol.driver, WAIT).until(
            lambda d: d.find_element(By.TAG_NAME, "h1").text.strip() == "Read-only access" and "Read-only access"
        )
        assert heading == "Read-only access"
    finally:
        carol.quit()


# DingTalk's iPhone client (docs/dingtalk-api.md §9.1) and its desktop client, which the JSAPI only
# believes inside its own container: a desktop browser with this user agent is not DingTalk to it.
DINGTALK_IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 AliApp(DingTalk/7.8.1) com.laiwang.DingTalk/34587781 Channel/201200"
)
DINGTALK_DESKTOP_UA = "Mozilla/5.0 (Macintosh) DingTalk(9.0.1-macOS-arm64) nw DTWKWebView"


def in_dingtalk(name: str, sim: dict | None, user_agent: str = DINGTALK_IPHONE_UA) -> Browser:
    """A fresh Chromium that the pages take for the DingTalk client. `sim` is what the simulator's
    JSAPI reads (`window.__DTSIM__`: which user the client is signed in as, or a failure), set
    before any page script runs, as the DingTalk client's own state would be."""
    b = Browser(profile=f"{PROFILE}-{name}", user_agent=user_agent)
    if sim is not None:
        source = f"window.__DTSIM__ = {json.dumps(sim)};"
        b.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
    return b


def page_errors(b: Browser) -> list[dict]:
    """What the browser's console logged as severe: a script or frame the policy blocked, or a
    script that failed (the favicon's 404, which every page of ours has, is left out)."""
    return [e for e in b.driver.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


def wait_for_hosted_login(b: Browser, what: str) -> None:
    b.wait_for(By.PARTIAL_LINK_TEXT, "Alice", f"the simulator's login page ({what})")
    assert "simulator" in b.driver.title.lower(), f"not the simulator's page: {b.driver.title!r}"


@step
def in_app_sign_in_inside_dingtalk(b: Browser, s: State) -> None:
    """Inside the DingTalk client, the RP's login arrives back at the RP signed in as Alice with no
    click (she consented to this RP in the first step); the ID token says how she signed in."""
    alice_sub = jwt_payload(s.id_token)["sub"]
    ding = in_dingtalk("dingtalk", {"user": "alice"})
    try:
        verifier, challenge = pkce()
        ding.get(authorize_url("in-app", challenge))
        url = ding.wait_url(REDIRECT_URI + "?", "the RP callback, with no click")
        ding.shot("in-app-callback.png")
        q = query_of(url)
        assert q.get("state") == "in-app" and q.get("code"), f"no code in {url}"
        tokens = exchange(q["code"], verifier)
        claims = jwt_payload(tokens["id_token"])
        assert claims["sub"] == alice_sub, f"in-app sign-in gave another user: {claims['sub']} vs {alice_sub}"
        assert claims["amr"] == ["dingtalk_app"], f"amr {claims.get('amr')}"
        assert claims["acr"] == "urn:dingtalk-oidc:acr:in-app", f"acr {claims.get('acr')}"
        errors = page_errors(ding)
        assert not errors, f"the in-app page logged errors (a blocked script?): {errors}"
    finally:
        ding.quit()


@step
def in_app_falls_back_to_the_hosted_login(b: Browser, s: State) -> None:
    """Without DingTalk's user agent the hosted login is used; with it, a JSAPI refusal (error 7)
    or a desktop browser that only claims to be DingTalk (the JSAPI rejects it, 4040) goes on to
    the hosted login too."""
    plain = Browser(profile=f"{PROFILE}-plain")
    try:
        _, challenge = pkce()
        plain.get(authorize_url("plain", challenge))
        wait_for_hosted_login(plain, "no DingTalk user agent")
    finally:
        plain.quit()
    for name, sim, agent in [
        ("refused", {"user": "alice", "fail": "7"}, DINGTALK_IPHONE_UA),
        ("spoofed", {"user": "alice"}, DINGTALK_DESKTOP_UA),
    ]:
        ding = in_dingtalk(name, sim, agent)
        try:
            _, challenge = pkce()
            ding.get(authorize_url(name, challenge))
            wait_for_hosted_login(ding, name)
            assert "state=" in ding.url
        finally:
            ding.quit()


@step
def another_organisation_refused_unless_the_client_accepts_it(b: Browser, s: State) -> None:
    """Inside DingTalk, Frank of Second Corp (the second demo organisation of `serve --dev`) opens
    the RP, which accepts the default organisation only: Demo Corp's JSAPI refuses him, the hosted
    login follows, and signing in there as him ends at the RP with access_denied. Once the RP
    accepts both organisations (admin API), the same opens with no click, as Second Corp's Frank."""
    ding = in_dingtalk("frank-refused", {"user": "ding-second-corp:frank"})
    try:
        _, challenge = pkce()
        ding.get(authorize_url("frank-refused", challenge))
        ding.wait_for(By.PARTIAL_LINK_TEXT, "Frank of ding-second-corp", "the hosted login after the JSAPI refused")
        ding.driver.find_element(By.PARTIAL_LINK_TEXT, "Frank of ding-second-corp").click()
        url = ding.wait_url(REDIRECT_URI + "?", "the RP callback")
        q = query_of(url)
        assert q.get("error") == "access_denied" and q.get("state") == "frank-refused", f"not refused: {url}"
    finally:
        ding.quit()
    body = json.dumps({"organisations": ["ding-demo-corp", "ding-second-corp"]}).encode()
    req = urllib.request.Request(
        f"{PROVIDER}/admin/v1/clients/{CLIENT_ID}",
        data=body,
        method="PATCH",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, resp.status
    ding = in_dingtalk("frank-accepted", {"user": "ding-second-corp:frank"})
    try:
        verifier, challenge = pkce()
        ding.get(authorize_url("frank-accepted", challenge))
        ding.wait_for(By.XPATH, "//button[normalize-space()='Allow']", "consent for Frank, signed in with no click")
        click_button(ding, "Allow")
        url = ding.wait_url(REDIRECT_URI + "?", "the RP callback")
        q = query_of(url)
        assert q.get("state") == "frank-accepted" and q.get("code"), f"no code in {url}"
        claims = jwt_payload(exchange(q["code"], verifier)["id_token"])
        assert claims["amr"] == ["dingtalk_app"], f"amr {claims.get('amr')}"
        assert claims["sub"] != jwt_payload(s.id_token)["sub"], "Frank is not Alice"
        errors = page_errors(ding)
        assert not errors, f"the in-app page logged errors: {errors}"
    finally:
        ding.quit()
    body = json.dumps({"organisations": []}).encode()
    req.data = body
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, resp.status


@step
def qr_code_on_our_page(b: Browser, s: State) -> None:
    """The provider with dingtalk.qr_login: its own page shows DingTalk's QR code (the simulator's
    DTFrameLogin frame) beside the link to DingTalk's login page; a scan (Alice picked in the
    frame) signs in through the callback, then consent, then the RP gets a code from that issuer."""
    qr = Browser(profile=f"{PROFILE}-qr")
    try:
        verifier, challenge = pkce()
        qr.get(authorize_url("qr", challenge).replace(PROVIDER, QR_PROVIDER, 1))
        frame = qr.wait_for(By.CSS_SELECTOR, "#dingtalk-qr iframe", "the QR frame DTFrameLogin draws")
        assert qr.url.startswith(QR_PROVIDER + "/authorize"), f"not our sign-in page: {qr.url}"
        qr.wait_for(By.PARTIAL_LINK_TEXT, "Continue with DingTalk", "the link to DingTalk's login page")
        qr.driver.switch_to.frame(frame)
        qr.wait_for(By.PARTIAL_LINK_TEXT, "Alice", "Alice in the QR frame")
        qr.driver.switch_to.default_content()
        qr.shot("qr-login.png")
        qr.driver.switch_to.frame(frame)
        qr.wait_for(By.PARTIAL_LINK_TEXT, "Alice", "Alice in the QR frame").click()
        qr.driver.switch_to.default_content()
        qr.wait_for(By.XPATH, "//button[normalize-space()='Allow']", "consent page after the scan")
        click_button(qr, "Allow")
        url = qr.wait_url(REDIRECT_URI + "?", "the RP callback after the scan")
        q = query_of(url)
        assert q.get("state") == "qr" and q.get("code"), f"no code in {url}"
        assert q.get("iss") == QR_PROVIDER, f"iss {q.get('iss')!r} (want {QR_PROVIDER})"
        req = urllib.request.Request(
            f"{QR_PROVIDER}/token",
            data=urllib.parse.urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": q["code"],
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                    "client_id": CLIENT_ID,
                    "client_secret": QR_CLIENT_SECRET,
                }
            ).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            claims = jwt_payload(json.load(resp)["id_token"])
        assert claims["iss"] == QR_PROVIDER and claims["amr"] == ["user"], f"ID token {claims}"
        assert claims["acr"] == "urn:dingtalk-oidc:acr:hosted-login", f"acr {claims.get('acr')}"
        errors = page_errors(qr)
        assert not errors, f"the sign-in page logged errors (a blocked script or frame?): {errors}"
    finally:
        qr.quit()


# --- runner -----------------------------------------------------------------------------------


def main() -> int:
    os.makedirs(SHOTS, exist_ok=True)
    passed = failed = 0
    b = Browser()
    try:
        print(f"browser: {b.driver.capabilities.get('browserName')} {b.driver.capabilities.get('browserVersion')}")
        s = State()
        for i, fn in enumerate(STEPS):
            name = fn.__name__
            try:
                fn(b, s)
            except Exception as e:  # noqa: BLE001 (any failure of a step fails that step)
                failed += 1
                print(f"FAIL {name}: {e}", flush=True)
                traceback.print_exc()
                try:
                    print(f"  at {b.url}\n  page: {b.text()[:500]!r}")
                    b.shot(f"failed-{name}.png")
                except Exception:  # noqa: BLE001
                    pass
                skipped = len(STEPS) - i - 1
                if skipped:
                    print(f"not run (they depend on {name}): {', '.join(f.__name__ for f in STEPS[i + 1 :])}")
                break
            passed += 1
            print(f"ok   {name}", flush=True)
    finally:
        b.quit()
    print(f"screenshots: {SHOTS}")
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed or passed != len(STEPS) else 0


if __name__ == "__main__":
    sys.exit(main())
