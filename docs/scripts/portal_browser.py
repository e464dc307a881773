#!/usr/bin/env python3
"""Browser tests of the web portal against a real node, in headless Chromium (Debian's chromium and
chromium-driver) driven by selenium.

    python docs/scripts/portal_browser.py [--leuknode .build/debug/leuknode] [--screenshots docs/portal]

It starts a throwaway node on free loopback ports (`leuknode init --portal` + `start`), creates a doctor,
two patients and free slots with the CLI, and drives two browsers at once (a patient's and the doctor's).
Checks: a patient books, the doctor confirms and the patient's open page shows it without reloading; a
doctor's message appears in the patient's open page within 2 s; the doctor uploads an image, releases the
result with a note and the patient reads it; patient B gets 404 on patient A's URLs; cross-site form posts
are refused; a script in a message body is shown as text and the CSP blocks an injected inline script; the
operator token is refused. With --screenshots DIR it also saves the main pages at desktop and phone width.
Ends with the line 'N passed, N failed' and exits non-zero on any failure.
"""
import argparse
import datetime
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORDS = {"dr.lee": "doctor-password-1", "ana": "patient-password-a", "ben": "patient-password-b", "admin.kim": "admin-password-k"}
# The browsers run in a zone far from UTC, so local times are visibly not UTC.
BROWSER_TZ = "Asia/Kolkata"


HANDED_OUT = set()


def free_port():
    """A free loopback port, never one handed out before in this run (the kernel may offer a port again
    once it is closed, and a node given the same port twice cannot bind its second listener)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in HANDED_OUT:
            HANDED_OUT.add(port)
            return port


class Node:
    """A real `leuknode start` with a portal, and the CLI to set it up."""

    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.data = os.path.join(work, "node")
        self.doctor_session = os.path.join(work, "doctor.session")
        self.process = None
        self.url = None

    def cli(self, *args, stdin=None, session=None):
        env = dict(os.environ)
        env.pop("LEUKNODE_HOME", None)
        if session:
            env["LEUKNODE_SESSION"] = session
        done = subprocess.run([self.binary, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"leuknode {' '.join(args[:3])} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self):
        cells = os.path.join(self.work, "cells")
        self.cli("dataset", "synth", "--out", cells, "--count", "16", "--seed", "7")
        self.cli("init", "--data-dir", self.data, "--name", "browser", "--listen", f"127.0.0.1:{free_port()}",
                 "--api", f"127.0.0.1:{free_port()}", "--portal", f"127.0.0.1:{free_port()}")
        self.log = open(os.path.join(self.work, "node.log"), "w+")
        # 16 images leave too few to validate: this throwaway node serves the federation's model unchecked.
        self.process = subprocess.Popen([self.binary, "start", "--data-dir", self.data, "--dataset", cells, "--rounds", "1",
                                         "--partial-validation", "follow"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while time.time() < deadline:
            self.log.seek(0)
            for line in self.log.read().splitlines():
                if line.startswith("portal on "):
                    self.url = line.split()[2]
            if self.url:
                break
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError("the node exited before serving:\n" + self.log.read())
            time.sleep(0.1)
        if not self.url:
            raise RuntimeError("the node did not start its portal in 90 s")
        for name, role in [("dr.lee", "doctor"), ("ana", "patient"), ("ben", "patient"), ("admin.kim", "admin")]:
            self.cli("user", "add", "--data-dir", self.data, "--role", role, "--name", name, "--password-stdin", stdin=PASSWORDS[name] + "\n")
        self.cli("login", "--data-dir", self.data, "--name", "dr.lee", "--password-stdin", stdin=PASSWORDS["dr.lee"] + "\n",
                 session=self.doctor_session)
        tomorrow = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).date()
        for hour in (9, 10, 11):
            self.cli("slot", "add", "--data-dir", self.data, "--start", f"{tomorrow}T{hour:02d}:00:00Z", "--minutes", "30",
                     session=self.doctor_session)
        self.image = os.path.join(cells, sorted(d for d in os.listdir(cells) if os.path.isdir(os.path.join(cells, d)))[0])
        self.image = os.path.join(self.image, sorted(os.listdir(self.image))[0])

    def operator_token(self):
        with open(os.path.join(self.data, "admin.token")) as f:
            return f.read().strip()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def browser(width=1280, height=900):
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}",
                 "--lang=en-US"):
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver", env={**os.environ, "TZ": BROWSER_TZ})
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    return driver


def wait_for(driver, condition, seconds=5, what="condition"):
    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(lambda d: condition(d), message=f"timed out waiting for {what}")


def sign_in(driver, base, name, password=None):
    driver.get(base + "/signin")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password or PASSWORDS[name])
    driver.find_element(By.CSS_SELECTOR, "form[action='/signin'] button").click()
    wait_for(driver, lambda d: "/signin" not in d.current_url, what=f"{name} to be signed in")


def fetch(url, method="GET", headers=None, data=None, context=None):
    """Status, body and headers (an email.message.Message: .get, .get_all) of a request, without following redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


class Suite:
    def __init__(self, node, screenshots):
        self.node, self.base, self.screenshots = node, node.url, screenshots
        self.patient = browser()
        self.doctor = browser()
        self.state = {}

    def close(self):
        for driver in (self.patient, self.doctor):
            try:
                driver.quit()
            except Exception:
                pass

    # Each test is a method named test_…, run in the order below; later ones use what earlier ones made.

    def test_wrong_password_keeps_the_name_and_says_why(self):
        d = self.patient
        d.get(self.base + "/signin")
        d.find_element(By.ID, "name").send_keys("ana")
        d.find_element(By.ID, "password").send_keys("not-the-password")
        d.find_element(By.CSS_SELECTOR, "form[action='/signin'] button").click()
        error = wait_for(d, lambda d: d.find_elements(By.ID, "form-error"), what="the error")[0].text
        assert "wrong user name or password" in error.lower(), error
        assert d.find_element(By.ID, "name").get_attribute("value") == "ana"

    def test_patient_books_doctor_confirms_patient_sees_it_live(self):
        p, d = self.patient, self.doctor
        sign_in(p, self.base, "ana")
        cookie = p.get_cookie("leuknode_session")
        assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie
        assert "leuknode_session" not in json.dumps(p.execute_script("return Object.assign({}, window.localStorage)"))
        p.get(self.base + "/appointments")
        Select(p.find_element(By.ID, "slot")).select_by_index(0)
        p.find_element(By.ID, "reason").send_keys("check-up after screening")
        p.find_element(By.CSS_SELECTOR, "form[action='/appointments'] button").click()
        wait_for(p, lambda d: "/appointments/apt_" in d.current_url, what="the appointment page")
        appointment = p.current_url.split("/appointments/")[1].split("?")[0]
        self.state["appointment"] = appointment
        state = p.find_element(By.CSS_SELECTOR, f"[data-appointment-state='{appointment}']")
        assert state.text == "requested", state.text
        # Local time: the browser's zone (UTC+05:30), not UTC.
        when = p.find_element(By.CSS_SELECTOR, f"time[data-appointment-start='{appointment}']")
        assert "UTC" not in when.text and ":30" in when.text, when.text
        p.execute_script("window.__notReloaded = true")

        sign_in(d, self.base, "dr.lee")
        d.get(f"{self.base}/appointments/{appointment}")
        d.find_element(By.CSS_SELECTOR, f"form[action='/appointments/{appointment}/confirm'] button").click()
        wait_for(d, lambda d: "done=confirmed" in d.current_url, what="the confirmation")
        wait_for(p, lambda d: d.find_element(By.CSS_SELECTOR, f"[data-appointment-state='{appointment}']").text == "confirmed",
                 seconds=3, what="the patient's page to show 'confirmed'")
        assert p.execute_script("return window.__notReloaded === true"), "the patient's page was reloaded"

    def test_doctor_message_reaches_the_open_patient_page_within_2s(self):
        p, d = self.patient, self.doctor
        appointment = self.state["appointment"]
        assert f"/appointments/{appointment}" in p.current_url
        d.find_element(By.ID, "body").send_keys("Please come fasting.")
        sent = time.monotonic()
        d.find_element(By.CSS_SELECTOR, f"form[action='/appointments/{appointment}/messages'] button").click()
        wait_for(p, lambda d: "Please come fasting." in d.find_element(By.ID, "thread").text, seconds=2,
                 what="the doctor's message on the patient's page")
        print(f"    message visible to the patient {time.monotonic() - sent:.2f} s after the doctor clicked Send")
        assert p.execute_script("return window.__notReloaded === true"), "the patient's page was reloaded"

    def test_script_in_a_message_is_text_and_the_csp_blocks_injected_script(self):
        p, d = self.patient, self.doctor
        appointment = self.state["appointment"]
        payload = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
        p.find_element(By.ID, "body").send_keys(payload)
        p.find_element(By.CSS_SELECTOR, f"form[action='/appointments/{appointment}/messages'] button").click()
        wait_for(p, lambda d: "done=sent" in d.current_url, what="the message to be sent")
        # Arrived live on the doctor's open page, and rendered by the server after a reload: text both times.
        wait_for(d, lambda d: payload in d.find_element(By.ID, "thread").text, seconds=3, what="the live message")
        assert d.execute_script("return window.pwned === undefined")
        d.refresh()
        assert payload in d.find_element(By.ID, "thread").text
        assert not d.find_elements(By.CSS_SELECTOR, "#thread script, #thread img")
        # Even a script element put into the page (as injected markup would be) does not run: CSP script-src 'self'.
        outcome = d.execute_async_script("""
            var done = arguments[arguments.length - 1], blocked = false;
            document.addEventListener('securitypolicyviolation', function (e) { if (e.violatedDirective.indexOf('script-src') === 0) blocked = true; });
            var s = document.createElement('script');
            s.textContent = 'window.pwned = 1';
            document.body.appendChild(s);
            setTimeout(function () { done({blocked: blocked, pwned: window.pwned === undefined ? null : window.pwned}); }, 300);
        """)
        assert outcome == {"blocked": True, "pwned": None}, outcome

    def test_doctor_uploads_an_image_releases_it_and_the_patient_reads_it(self):
        p, d = self.patient, self.doctor
        # A file that is not an image: a clear error, and the patient field keeps what was typed.
        bad = os.path.join(self.node.work, "notes.txt")
        with open(bad, "w") as f:
            f.write("not an image\n")
        d.get(self.base + "/diagnose")
        d.find_element(By.ID, "patient").send_keys("ana")
        d.find_element(By.ID, "image").send_keys(bad)
        d.find_element(By.CSS_SELECTOR, "form[action='/diagnose'] button").click()
        error = wait_for(d, lambda d: d.find_elements(By.ID, "form-error"), what="the upload error")[0].text
        assert "image" in error.lower(), error
        assert d.find_element(By.ID, "patient").get_attribute("value") == "ana"
        d.find_element(By.ID, "image").send_keys(self.node.image)
        d.find_element(By.CSS_SELECTOR, "form[action='/diagnose'] button").click()
        wait_for(d, lambda d: "/diagnoses/dgn_" in d.current_url, seconds=20, what="the diagnosis page")
        diagnosis = d.current_url.split("/diagnoses/")[1].split("?")[0]
        self.state["diagnosis"] = diagnosis
        classes = [row.text.split()[0] for row in d.find_elements(By.CSS_SELECTOR, "table.probabilities tbody tr")]
        assert classes == ["all", "hem"], classes
        assert "version" in d.find_element(By.CSS_SELECTOR, "dl.facts").text
        image_ok = d.execute_script("var i = document.querySelector('figure.cell img'); return i.complete && i.naturalWidth > 0")
        assert image_ok, "the cell image did not load"
        # Not released yet: the patient does not see it.
        p.get(self.base + "/results")
        assert "No results have been released" in p.page_source
        d.find_element(By.ID, "note").send_keys("Nothing alarming")
        d.find_element(By.CSS_SELECTOR, "button[value='review']").click()
        wait_for(d, lambda d: "done=reviewed" in d.current_url, what="the saved note")
        p.get(self.base + "/results")
        assert "No results have been released" in p.page_source
        d.find_element(By.ID, "note").send_keys("; see you at the follow-up.")
        d.find_element(By.CSS_SELECTOR, "button[value='release']").click()
        wait_for(d, lambda d: "done=released" in d.current_url, what="the release")
        p.get(self.base + "/results")
        text = p.find_element(By.TAG_NAME, "main").text
        assert "Nothing alarming; see you at the follow-up." in text and "version" in text, text

    def test_patient_b_gets_404_on_patient_a_urls(self):
        b = browser()
        try:
            sign_in(b, self.base, "ben")
            cookie = "leuknode_session=" + b.get_cookie("leuknode_session")["value"]
            a, dx = self.state["appointment"], self.state["diagnosis"]
            for path in (f"/appointments/{a}", f"/diagnoses/{dx}", f"/diagnoses/{dx}/image",
                         "/appointments/apt_" + "0" * 32, "/diagnoses/dgn_" + "0" * 32):
                status, body, _ = fetch(self.base + path, headers={"Cookie": cookie})
                assert status == 404, (path, status)
                assert "Please come fasting" not in body and "Nothing alarming" not in body
                b.get(self.base + path)
                assert "Not found" in b.title or path.endswith("/image"), (path, b.title)
            # A's appointment from B's browser, with B's own form token: still 404, and nothing was posted.
            csrf = b.execute_script("return document.querySelector('input[name=csrf]').value")
            status, _, _ = fetch(f"{self.base}/appointments/{a}/messages", method="POST", data=f"csrf={csrf}&body=hello".encode(),
                                headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
            assert status == 404, status
            b.get(self.base + "/appointments")
            assert a not in b.page_source
        finally:
            b.quit()

    def test_cross_site_form_posts_are_refused(self):
        p = self.patient
        appointment = self.state["appointment"]
        p.get(f"{self.base}/appointments/{appointment}")
        token = p.execute_script("return document.querySelector('input[name=csrf]').value")
        # Another origin on the same machine (same site, other port): one form without the token, one with it.
        page = f"""<!doctype html><title>elsewhere</title>
            <form id="plain" method="post" action="{self.base}/appointments/{appointment}/messages">
            <input name="body" value="cross-site without token"><button id="go1">go</button></form>
            <form id="leaked" method="post" action="{self.base}/appointments/{appointment}/messages">
            <input name="csrf" value="{token}"><input name="body" value="cross-site with token"><button id="go2">go</button></form>"""

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page.encode())

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for button in ("go1", "go2"):
                p.get(f"http://127.0.0.1:{server.server_address[1]}/")
                p.find_element(By.ID, button).click()
                wait_for(p, lambda d: d.current_url.startswith(self.base), what="the portal's answer")
                assert "This form was refused" in p.find_element(By.TAG_NAME, "main").text, p.page_source[:500]
        finally:
            server.shutdown()
        p.get(f"{self.base}/appointments/{appointment}")
        assert "cross-site" not in p.find_element(By.ID, "thread").text

    def test_keyboard_only_signs_in_and_moves_around(self):
        k = browser()
        try:
            k.get(self.base + "/signin")
            assert k.switch_to.active_element.get_attribute("id") == "name"  # autofocus
            k.switch_to.active_element.send_keys("ben", Keys.TAB)
            assert k.switch_to.active_element.get_attribute("id") == "password"
            k.switch_to.active_element.send_keys(PASSWORDS["ben"], Keys.ENTER)
            wait_for(k, lambda d: d.current_url.endswith("/appointments"), what="ben's appointments")
            ActionChains(k).send_keys(Keys.TAB).perform()
            assert k.switch_to.active_element.text == "Skip to content"
            for _ in range(8):
                ActionChains(k).send_keys(Keys.TAB).perform()
                if k.switch_to.active_element.text == "Results":
                    break
            assert k.switch_to.active_element.text == "Results", k.switch_to.active_element.text
            ActionChains(k).send_keys(Keys.ENTER).perform()
            wait_for(k, lambda d: d.current_url.endswith("/results"), what="the results page by keyboard")
            # Every form control on the appointments page has a label.
            k.get(self.base + "/appointments")
            unlabelled = k.execute_script("""return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
                .filter(function (e) { return !e.labels || e.labels.length === 0; }).map(function (e) { return e.name; });""")
            assert unlabelled == [], unlabelled
        finally:
            k.quit()

    def test_operator_token_and_bearer_tokens_are_refused(self):
        token = self.node.operator_token()
        for headers in ({"Authorization": "Bearer " + token}, {"Cookie": "leuknode_session=" + token}):
            status, body, _ = fetch(self.base + "/admin/users", headers=headers)
            assert status == 401, (headers.keys(), status)
            assert "Users" not in body.split("<main")[1][:200]
        for path in ("/v1/status", "/v1/users", "/metrics", "/v1/openapi.yaml"):
            status, _, _ = fetch(self.base + path, headers={"Cookie": "leuknode_session=" + token})
            assert status in (401, 404), (path, status)

    def test_security_headers(self):
        _, _, headers = fetch(self.base + "/signin")
        csp = headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, csp
        assert headers.get("X-Content-Type-Options") == "nosniff"
        assert headers.get("X-Frame-Options") == "DENY"
        assert headers.get("Referrer-Policy") == "same-origin"

    def test_admin_sees_users_not_clinical_content_and_revoking_signs_the_patient_out_live(self):
        p = self.patient
        p.get(self.base + "/appointments")
        admin = browser()
        try:
            sign_in(admin, self.base, "admin.kim")
            assert admin.current_url.endswith("/admin/users"), admin.current_url
            text = admin.find_element(By.TAG_NAME, "main").text
            assert "ana" in text and "dr.lee" in text
            assert "Please come fasting" not in admin.page_source and "Nothing alarming" not in admin.page_source
            for path in ("/appointments", f"/appointments/{self.state['appointment']}", f"/diagnoses/{self.state['diagnosis']}", "/events"):
                admin.get(self.base + path)
                assert "Not found" in admin.title, (path, admin.title)
            admin.get(self.base + "/admin/users")
            admin.find_element(By.CSS_SELECTOR, "button[aria-label='Revoke every session of ana']").click()
            wait_for(admin, lambda d: "done=revoked" in d.current_url, what="the revocation")
            # The patient's open page learns it over its event stream and goes to the sign-in page.
            wait_for(p, lambda d: "/signin?ended=1" in d.current_url, seconds=3, what="the patient's page to sign out")
        finally:
            admin.quit()

    def test_tls_portal_sets_a_secure_cookie_and_plain_http_stays_on_loopback(self):
        node = self.node
        refused = subprocess.run([node.binary, "start", "--data-dir", node.data, "--portal", f"0.0.0.0:{free_port()}"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "loopback only" in refused.stderr, (refused.returncode, refused.stderr)
        if not shutil.which("openssl"):
            raise RuntimeError("openssl is needed to make the test certificate")
        tls = os.path.join(node.work, "tls")
        os.makedirs(tls)
        cert, key = os.path.join(tls, "portal.crt"), os.path.join(tls, "portal.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], check=True, capture_output=True)
        data = os.path.join(tls, "node")
        node.cli("init", "--data-dir", data, "--name", "tls", "--listen", f"127.0.0.1:{free_port()}", "--api", f"127.0.0.1:{free_port()}")
        node.cli("dataset", "synth", "--out", os.path.join(tls, "cells"), "--count", "16", "--seed", "3")
        log = open(os.path.join(tls, "node.log"), "w+")
        process = subprocess.Popen([node.binary, "start", "--data-dir", data, "--dataset", os.path.join(tls, "cells"), "--rounds", "1",
                                    "--partial-validation", "follow", "--portal", f"127.0.0.1:{free_port()}", "--tls-cert", cert,
                                    "--tls-key", key], stdout=log, stderr=subprocess.STDOUT)
        try:
            url = None
            deadline = time.time() + 90
            while not url and time.time() < deadline and process.poll() is None:
                log.seek(0)
                url = next((line.split()[2] for line in log.read().splitlines() if line.startswith("portal on ")), None)
                time.sleep(0.1)
            assert url and url.startswith("https://"), url
            node.cli("user", "add", "--data-dir", data, "--role", "patient", "--name", "tia", "--password-stdin", stdin="tia password 1\n")
            context = ssl.create_default_context(cafile=cert)
            _, body, headers = fetch(url + "/signin", context=context)
            assert "max-age" in headers.get("Strict-Transport-Security", ""), headers
            token = body.split('name="csrf" value="')[1].split('"')[0]
            status, _, headers = fetch(url + "/signin", method="POST", context=context, data=f"csrf={token}&name=tia&password=tia+password+1".encode(),
                                       headers={"Cookie": f"leuknode_signin={token}", "Content-Type": "application/x-www-form-urlencoded"})
            session = [c for c in headers.get_all("Set-Cookie") if c.startswith("leuknode_session=lks_")]
            assert status == 303 and session and "Secure" in session[0] and "HttpOnly" in session[0], (status, session)
        finally:
            process.terminate()
            process.wait(timeout=30)

    def test_screenshots(self):
        if not self.screenshots:
            print("    (no --screenshots: skipped taking them)")
            return
        os.makedirs(self.screenshots, exist_ok=True)
        shots = [
            ("signin", None, "/signin"),
            ("patient-appointments", "ana", "/appointments"),
            ("patient-thread", "ana", f"/appointments/{self.state['appointment']}"),
            ("patient-results", "ana", "/results"),
            ("doctor-queue", "dr.lee", "/queue"),
            ("doctor-diagnosis", "dr.lee", f"/diagnoses/{self.state['diagnosis']}"),
            ("doctor-slots", "dr.lee", "/slots"),
            ("doctor-diagnose", "dr.lee", "/diagnose"),
            ("admin-users", "admin.kim", "/admin/users"),
            ("admin-break-glass", "admin.kim", "/break-glass"),
        ]
        for width, height, suffix in ((1280, 900, "desktop"), (390, 844, "phone")):
            drivers = {}
            try:
                for name, who, path in shots:
                    if who not in drivers:
                        drivers[who] = browser(width, height)
                        if who:
                            sign_in(drivers[who], self.base, who)
                    driver = drivers[who]
                    driver.get(self.base + path)
                    time.sleep(0.3)
                    full = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.set_window_size(width, min(max(height, full + 20), 2400))
                    driver.save_screenshot(os.path.join(self.screenshots, f"{name}-{suffix}.png"))
                    driver.set_window_size(width, height)
            finally:
                for driver in drivers.values():
                    driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leuknode", default=os.path.join(ROOT, ".build/debug/leuknode"))
    parser.add_argument("--screenshots", help="save PNG screenshots of the main pages into this folder")
    args = parser.parse_args()
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="leuknode-portal-")
    node = Node(os.path.abspath(args.leuknode), work)
    passed = failed = 0
    suite = None
    try:
        node.start()
        print(f"portal under test: {node.url}")
        suite = Suite(node, args.screenshots and os.path.abspath(args.screenshots))
        for name in [n for n in Suite.__dict__ if n.startswith("test_")]:
            t0 = time.monotonic()
            try:
                getattr(suite, name)()
                passed += 1
                print(f"PASS {name} ({time.monotonic() - t0:.1f} s)")
            except Exception:
                failed += 1
                print(f"FAIL {name} ({time.monotonic() - t0:.1f} s)")
                traceback.print_exc()
    finally:
        if suite:
            suite.close()
        node.stop()
        if failed:
            print(f"node log kept in {work}/node.log")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"portal browser tests took {time.monotonic() - started:.0f} s")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
