"""pywa's own webhook handler (signature check on) takes wabagate's deliveries.

A small HTTP receiver on loopback hands every request to the UNMODIFIED pywa 4.5.0:
the verification GET to ``WhatsApp.webhook_challenge_handler``, each POST to
``WhatsApp.webhook_update_validator`` (X-Hub-Signature-256 against the app secret) and
then ``WhatsApp.webhook_update_handler``, and answers what pywa answers. pywa's
handlers record the updates it parsed; each step checks them.

Run from the repository root after `cargo build -p wabagate`:

    python3 -m pytest compat/pywa -q
"""

import http.server
import threading
import time
import warnings

import httpx
import pytest
from pywa import WhatsApp
from pywa import errors as pywa_errors
from pywa.types import Message, MessageStatus, MessageStatusType, TemplateStatusUpdate

pytestmark = pytest.mark.incremental

CUSTOMER = "16505551234"


class Ctx(dict):
    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def check(cond, what, detail=""):
    print(f"  [{'ok' if cond else 'FAIL'}] {what}" + (f"  ({detail})" if detail else ""))
    if not cond:
        pytest.fail(f"{what}: {detail}", pytrace=False)


def start_receiver(ctx):
    """An HTTP server whose every request is answered by pywa."""
    wa = ctx.wa

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body, status):
            data = (body or "").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            query = httpx.URL(self.path).params
            self._answer(*wa.webhook_challenge_handler(query.get("hub.verify_token"), query.get("hub.challenge")))

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                refused = wa.webhook_update_validator(body, self.headers.get("X-Hub-Signature-256"))
                answer = refused or wa.webhook_update_handler(body)
            ctx.warnings.extend(w for w in caught if issubclass(w.category, pywa_errors.PywaWarning))
            ctx.answers.append(answer[1])
            self._answer(*answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def wait_for(ctx, what, predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"{what}: not seen within {timeout}s; updates {ctx.updates}, answers {ctx.answers}", pytrace=False)


@pytest.fixture(scope="module")
def ctx(wabagate):
    b = wabagate
    c = Ctx(b=b, updates=[], answers=[], warnings=[])
    local = httpx.URL(b["graph_url"])

    def to_local(request):
        if request.url.host == "graph.facebook.com":
            request.url = request.url.copy_with(scheme=local.scheme, host=local.host, port=local.port)
            request.headers["Host"] = local.netloc.decode("ascii")

    c.wa = WhatsApp(
        phone_id=b["phone_number_id"],
        token=b["admin_token"],
        waba_id=b["waba_id"],
        verify_token="pywa-verify",
        app_secret=b["app_secret"],
        session=httpx.Client(event_hooks={"request": [to_local]}),
    )

    @c.wa.on_message
    def on_message(_, msg: Message):
        c.updates.append(("message", msg))

    @c.wa.on_message_status
    def on_status(_, status: MessageStatus):
        c.updates.append(("status", status))

    @c.wa.on_template_status_update
    def on_template(_, update: TemplateStatusUpdate):
        c.updates.append(("template", update))

    c.server, c.callback = start_receiver(c)
    c.graph = httpx.Client(base_url=b["graph_url"].rstrip("/") + "/v23.0")
    yield c
    c.server.shutdown()
    c.graph.close()


def test_01_subscribe_through_pywa_s_challenge_handler(ctx):
    print("\n1. POST /{app}/subscriptions: the handshake is answered by pywa")
    b = ctx.b
    r = ctx.graph.post(
        f"/{b['app_id']}/subscriptions",
        data={
            "object": "whatsapp_business_account",
            "callback_url": ctx.callback,
            "verify_token": "pywa-verify",
            "fields": "messages,message_template_status_update",
            "access_token": f"{b['app_id']}|{b['app_secret']}",
        },
    )
    check(r.status_code == 200 and r.json() == {"success": True}, "subscribed", r.text)
    r = ctx.graph.post(f"/{b['waba_id']}/subscribed_apps", data={"access_token": b["admin_token"]})
    check(r.status_code == 200, "the app subscribed to the WABA", r.text)


def test_02_a_sent_message_s_statuses_reach_pywa(ctx):
    print("\n2. send a text with pywa; sent, delivered and read arrive signed")
    sent = ctx.wa.send_message(to=CUSTOMER, text="Your order has shipped")
    wait_for(ctx, "three statuses", lambda: sum(1 for k, _ in ctx.updates if k == "status") >= 3)
    statuses = [u for k, u in ctx.updates if k == "status"]
    check([s.status for s in statuses] == [MessageStatusType.SENT, MessageStatusType.DELIVERED, MessageStatusType.READ],
          "statuses in order", [s.status for s in statuses])
    check(all(s.id == sent.id for s in statuses), "each is the sent message's", [s.id for s in statuses])
    check(statuses[0].pricing is not None and statuses[2].pricing is None, "pricing with sent, not read",
          (statuses[0].pricing, statuses[2].pricing))


def test_03_a_customer_message_reaches_pywa(ctx):
    print("\n3. POST /_wabagate/phone_numbers/{id}/inbound: pywa parses a text message")
    b = ctx.b
    r = ctx.graph.post(
        f"/_wabagate/phone_numbers/{b['phone_number_id']}/inbound",
        data={"from": CUSTOMER, "text": "Does it come in blue?", "name": "Sheena", "access_token": b["admin_token"]},
    )
    check(r.status_code == 200, "inbound accepted", r.text)
    wait_for(ctx, "the message", lambda: any(k == "message" for k, _ in ctx.updates))
    msg = next(u for k, u in ctx.updates if k == "message")
    check(msg.text == "Does it come in blue?", "text", msg.text)
    check(msg.from_user.wa_id == CUSTOMER and msg.from_user.name == "Sheena", "from", msg.from_user)
    check(msg.id == r.json()["messages"][0]["id"], "id", msg.id)


def test_04_a_template_approval_reaches_pywa(ctx):
    print("\n4. create a template (reviewed at once): pywa gets APPROVED")
    b = ctx.b
    r = ctx.graph.post(
        f"/{b['waba_id']}/message_templates",
        data={
            "name": "webhook_order",
            "language": "en_US",
            "category": "UTILITY",
            "components": '[{"type":"BODY","text":"Order {{1}} is ready","example":{"body_text":[["A-1"]]}}]',
            "access_token": b["admin_token"],
        },
    )
    check(r.status_code == 200, "template created", r.text)
    wait_for(ctx, "the template update", lambda: any(k == "template" for k, _ in ctx.updates))
    update = next(u for k, u in ctx.updates if k == "template")
    check(update.template_name == "webhook_order", "name", update.template_name)
    check(str(update.template_id) == r.json()["id"], "id", update.template_id)
    check(update.new_status.name == "APPROVED", "status", update.new_status)


def test_05_every_delivery_passed_pywa_s_signature_check(ctx):
    print("\n5. pywa answered 200 to every delivery, with no warning; a forged one is refused")
    check(ctx.answers and all(a == 200 for a in ctx.answers), "all answered 200", ctx.answers)
    check(not ctx.warnings, "no pywa warnings", [str(w.message) for w in ctx.warnings])
    forged = httpx.post(ctx.callback, content=b'{"object":"whatsapp_business_account","entry":[]}',
                        headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    check(forged.status_code == 403, "a wrong signature is refused by pywa", forged.status_code)
