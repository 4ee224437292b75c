"""End-to-end: the UNMODIFIED `pywa` 4.5.0 package against a real wabagate.

pywa has no base-URL option (GraphAPI.__init__ forces
``https://graph.facebook.com/v<ver>``), so every WhatsApp client here gets an
``httpx.Client`` whose *request event hook* rewrites requests for
graph.facebook.com to the local server's scheme/host/port. pywa itself is not
patched and no private attribute is touched.

One scenario, split into ordered steps that share state. Each step prints what it
checks (run with `-s` to watch); the first mismatch fails the step and the remaining
steps are reported as xfail ("previous step failed").

Run from the repository root after `cargo build -p wabagate`:

    python3 -m pytest compat/pywa -q
"""

import hashlib
import hmac
import json
import warnings

import httpx
import pytest
from pywa import WhatsApp
from pywa import errors as pywa_errors
from pywa.types import BusinessPhoneNumber, SentMessage, SentTemplate
from pywa.types.templates import (
    BodyText,
    CreatedTemplate,
    ParamFormat,
    Template,
    TemplateCategory,
    TemplateLanguage,
    TemplatesResult,
    TemplateStatus,
)

pytestmark = pytest.mark.incremental

RECIPIENT = "15551234567"
HELLO_WORLD_BODY = "Hello World from Acme Support!"
DEMO_DISPLAY_NUMBER = "+1 555-010-0100"
ORDER_TEMPLATE = "order_update"
ORDER_BODY = "Your order {{1}} has shipped"


# --------------------------------------------------------------------------- helpers


class Ctx(dict):
    """Shared scenario state (attribute access for brevity)."""

    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def _describe(resp):
    req = resp.request
    body = req.content.decode(errors="replace") if req.content else ""
    try:
        text = resp.text
    except httpx.ResponseNotRead:
        text = "<not read>"
    return f"{req.method} {req.url}" + (f"\n    body: {body}" if body else "") + (
        f"\n  -> HTTP {resp.status_code} {text[:800]}"
    )


def make_session(ctx):
    """The httpx.Client handed to pywa: a request hook points graph.facebook.com at
    the local server (scheme/host/port, plus the Host header), a response hook
    records every exchange (for diagnostics and wire-level checks)."""
    local = ctx.local

    def to_local(request):
        if request.url.host == "graph.facebook.com":
            request.url = request.url.copy_with(
                scheme=local.scheme, host=local.host, port=local.port
            )
            request.headers["Host"] = local.netloc.decode("ascii")

    def record(response):
        response.read()
        ctx.log.append(response)

    return httpx.Client(event_hooks={"request": [to_local], "response": [record]})


def make_wa(ctx, token):
    # No server=, callback_url=, verify_token=, app_id/app_secret: pywa then registers
    # no webhook and makes no call at construction; api_version: pywa's default.
    return WhatsApp(
        phone_id=ctx.b["phone_number_id"],
        token=token,
        waba_id=ctx.b["waba_id"],
        session=make_session(ctx),
    )


def check(ctx, cond, what, detail=""):
    """Print what is being checked; on mismatch fail with the last HTTP exchange."""
    print(f"  [{'ok' if cond else 'FAIL'}] {what}" + (f"  ({detail})" if detail else ""))
    if not cond:
        last = _describe(ctx.log[-1]) if ctx.log else "(no HTTP exchange recorded)"
        pytest.fail(f"{what}: {detail}\nlast exchange:\n  {last}", pytrace=False)


def call(ctx, what, fn):
    """Run a pywa call; any exception or pywa warning (e.g. an unknown enum value in
    a server answer) fails the step with the HTTP exchange that caused it."""
    n = len(ctx.log)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 - report whatever pywa raised
            last = _describe(ctx.log[-1]) if len(ctx.log) > n else "(no HTTP exchange)"
            pytest.fail(f"{what}: pywa raised {e!r}\nlast exchange:\n  {last}", pytrace=False)
    pywa_warnings = [w for w in caught if issubclass(w.category, pywa_errors.PywaWarning)]
    check(ctx, not pywa_warnings, f"{what}: no pywa warnings", [str(w.message) for w in pywa_warnings])
    return result


def expect_error(ctx, fn, cls, code, what):
    """Run fn, which must raise exactly pywa's `cls` with `.code == code`."""
    n = len(ctx.log)
    try:
        result = fn()
    except pywa_errors.WhatsAppError as e:
        print(
            f"  {what}: {type(e).__name__} http={e.status_code} code={e.code} "
            f"subcode={e.subcode} type={e.type}\n"
            f"    .message = {e.message!r}\n"
            f"    .details = {e.details!r}"
        )
        check(ctx, type(e) is cls, f"raises pywa.errors.{cls.__name__}", type(e).__name__)
        check(ctx, e.code == code, f".code == {code}", e.code)
        check(ctx, e.status_code is not None and e.status_code >= 400, "HTTP status >= 400", e.status_code)
        return e
    last = _describe(ctx.log[-1]) if len(ctx.log) > n else "(no HTTP exchange)"
    pytest.fail(
        f"{what}: expected pywa.errors.{cls.__name__} (code {code}), got {result!r}\n"
        f"last exchange:\n  {last}",
        pytrace=False,
    )


def last_json_body(ctx):
    return json.loads(ctx.log[-1].request.content)


def graph_post(ctx, path, **data):
    """A plain Graph API call (form-encoded, admin token), outside pywa."""
    resp = ctx.graph.post(path, data={**data, "access_token": ctx.b["admin_token"]})
    ctx.log.append(resp)
    print(f"  POST {path} {sorted(k for k in data)} -> HTTP {resp.status_code} {resp.text[:200]}")
    check(ctx, resp.status_code == 200, f"POST {path} succeeds", resp.status_code)
    return resp.json()


def mint_token(ctx, scope):
    proof = hmac.new(
        ctx.b["app_secret"].encode(), ctx.b["admin_token"].encode(), hashlib.sha256
    ).hexdigest()
    out = graph_post(
        ctx,
        f"/{ctx.su_id}/access_tokens",
        business_app=ctx.b["app_id"],
        scope=scope,
        appsecret_proof=proof,
    )
    check(ctx, bool(out.get("access_token")), f"token minted (scope={scope})")
    return out["access_token"]


@pytest.fixture(scope="module")
def ctx(wabagate):
    c = Ctx(b=wabagate, log=[])
    c.local = httpx.URL(wabagate["graph_url"])
    c.graph = httpx.Client(base_url=wabagate["graph_url"].rstrip("/") + "/v23.0")
    yield c
    c.graph.close()


# --------------------------------------------------------------------------- steps


def test_01_construct_client(ctx):
    print("\n1. WhatsApp(phone_id, token, waba_id, session=<rewriting httpx.Client>)")
    ctx.wa = wa = make_wa(ctx, ctx.b["admin_token"])
    check(ctx, wa.phone_id == ctx.b["phone_number_id"], "wa.phone_id", wa.phone_id)
    check(ctx, wa.waba_id == ctx.b["waba_id"], "wa.waba_id", wa.waba_id)
    check(ctx, not ctx.log, "pywa made no HTTP call at construction", len(ctx.log))


def test_02_send_text(ctx):
    print("\n2. send_message(text) -> SentMessage with a wamid")
    sent = call(ctx, "send_message", lambda: ctx.wa.send_message(to=RECIPIENT, text="Hello from pywa"))
    req = ctx.log[-1].request
    print(f"  {req.method} {req.url}")
    check(ctx, req.url.host == ctx.local.host and req.url.port == ctx.local.port,
          "request went to the local server (hook rewrite)", req.url)
    check(ctx, req.url.path.endswith(f"/{ctx.b['phone_number_id']}/messages"),
          "POST /v<ver>/{phone_id}/messages", req.url.path)
    check(ctx, req.headers.get("authorization") == f"Bearer {ctx.b['admin_token']}",
          "token sent as Authorization: Bearer")
    check(ctx, last_json_body(ctx)["text"] == {"body": "Hello from pywa", "preview_url": False},
          "JSON body carries text.body", last_json_body(ctx))
    check(ctx, isinstance(sent, SentMessage), "returns SentMessage", type(sent).__name__)
    check(ctx, sent.id.startswith("wamid."), "id starts with 'wamid.'", sent.id)
    check(ctx, sent.input == RECIPIENT, "contacts[0].input echoes `to`", sent.input)


def test_03_send_hello_world_template(ctx):
    print("\n3. send_template(name='hello_world', language=en_US), no params")
    sent = call(ctx, "send_template(hello_world)", lambda: ctx.wa.send_template(
        to=RECIPIENT, name="hello_world", language=TemplateLanguage.ENGLISH_US))
    body = last_json_body(ctx)
    check(ctx, body.get("type") == "template" and body["template"] == {
        "name": "hello_world", "language": {"code": "en_US"}}, "wire: template name + language, no components", body)
    check(ctx, isinstance(sent, SentTemplate), "returns SentTemplate", type(sent).__name__)
    check(ctx, sent.id.startswith("wamid."), "id starts with 'wamid.'", sent.id)
    print(f"  message_status -> {sent.status!r}")


def test_04a_create_template(ctx):
    print(f"\n4a. create_template({ORDER_TEMPLATE!r}, UTILITY, en_US, BODY {ORDER_BODY!r}, example ['12345'])")
    template = Template(
        name=ORDER_TEMPLATE,
        category=TemplateCategory.UTILITY,
        language=TemplateLanguage.ENGLISH_US,
        parameter_format=ParamFormat.POSITIONAL,
        components=[BodyText(ORDER_BODY, "12345")],
    )
    created = call(ctx, "create_template", lambda: ctx.wa.create_template(template=template))
    body = last_json_body(ctx)
    print(f"  wire body: {json.dumps(body)}")
    check(ctx, body["components"] == [
        {"type": "BODY", "text": ORDER_BODY, "example": {"body_text": [["12345"]]}}],
        "wire: BODY component with example.body_text", body["components"])
    check(ctx, isinstance(created, CreatedTemplate), "returns CreatedTemplate", type(created).__name__)
    check(ctx, bool(created.id), "created.id", created.id)
    check(ctx, created.status == TemplateStatus.APPROVED, "status APPROVED (--template-review immediate)", created.status)
    check(ctx, created.category == TemplateCategory.UTILITY, "category UTILITY", created.category)
    ctx.order_template_id = created.id


def test_04b_send_template_with_param(ctx):
    print(f"\n4b. send_template({ORDER_TEMPLATE!r}, params=[BodyText.params('12345')])")
    sent = call(ctx, "send_template(order_update, 1 param)", lambda: ctx.wa.send_template(
        to=RECIPIENT, name=ORDER_TEMPLATE, language=TemplateLanguage.ENGLISH_US,
        params=[BodyText.params("12345")]))
    body = last_json_body(ctx)
    check(ctx, body["template"].get("components") == [
        {"type": "BODY", "parameters": [{"type": "text", "text": "12345"}]}],
        "wire: one BODY text parameter (pywa's upper-case component type)", body["template"])
    check(ctx, sent.id.startswith("wamid."), "id starts with 'wamid.'", sent.id)


def test_04c_send_template_missing_param(ctx):
    print(f"\n4c. send_template({ORDER_TEMPLATE!r}) without params -> TemplateParamCountMismatch")
    expect_error(ctx, lambda: ctx.wa.send_template(
        to=RECIPIENT, name=ORDER_TEMPLATE, language=TemplateLanguage.ENGLISH_US),
        pywa_errors.TemplateParamCountMismatch, 132000, "zero params")
    check(ctx, "components" not in last_json_body(ctx)["template"], "wire: no components sent")


def test_05_unknown_template(ctx):
    print("\n5. send_template('no_such_template') -> TemplateNotExists")
    expect_error(ctx, lambda: ctx.wa.send_template(
        to=RECIPIENT, name="no_such_template", language=TemplateLanguage.ENGLISH_US),
        pywa_errors.TemplateNotExists, 132001, "unknown template")


def test_06_get_templates(ctx):
    print("\n6. get_templates() -> TemplatesResult with summary")
    res = call(ctx, "get_templates", lambda: ctx.wa.get_templates())
    check(ctx, isinstance(res, TemplatesResult), "returns TemplatesResult", type(res).__name__)
    by_name = {t.name: t for t in res}
    print(f"  templates: {[(t.name, str(t.language), str(t.status)) for t in res]}")
    for name in ("hello_world", ORDER_TEMPLATE):
        t = by_name.get(name)
        check(ctx, t is not None, f"{name} listed", sorted(by_name))
        check(ctx, t.status == TemplateStatus.APPROVED, f"{name} status APPROVED", t.status)
        check(ctx, t.language == TemplateLanguage.ENGLISH_US, f"{name} language en_US", t.language)
        check(ctx, t.category == TemplateCategory.UTILITY, f"{name} category UTILITY", t.category)
        check(ctx, t.parameter_format == ParamFormat.POSITIONAL, f"{name} parameter_format POSITIONAL", t.parameter_format)
    bodies = [c for c in by_name["hello_world"].components if isinstance(c, BodyText)]
    check(ctx, len(bodies) == 1 and bodies[0].text == HELLO_WORLD_BODY, "hello_world BODY text",
          by_name["hello_world"].components)
    check(ctx, by_name[ORDER_TEMPLATE].id == ctx.order_template_id, "order_update id == created id",
          by_name[ORDER_TEMPLATE].id)
    summary = (res.total_count, res.message_template_count, res.message_template_limit,
               res.are_translations_complete)
    print(f"  summary: total_count={summary[0]} message_template_count={summary[1]} "
          f"message_template_limit={summary[2]} are_translations_complete={summary[3]}")
    check(ctx, isinstance(res.total_count, int) and res.total_count >= 2, "summary.total_count >= 2", res.total_count)
    check(ctx, isinstance(res.message_template_count, int), "summary.message_template_count is an int")
    check(ctx, isinstance(res.message_template_limit, int) and res.message_template_limit > 0,
          "summary.message_template_limit > 0")
    check(ctx, isinstance(res.are_translations_complete, bool), "summary.are_translations_complete is a bool")


def test_07_phone_numbers(ctx):
    print("\n7. get_business_phone_numbers() / get_business_phone_number()")
    numbers = call(ctx, "get_business_phone_numbers", lambda: list(ctx.wa.get_business_phone_numbers()))
    print(f"  numbers: {[(n.id, n.display_phone_number, n.status) for n in numbers]}")
    mine = [n for n in numbers if n.id == ctx.b["phone_number_id"]]
    check(ctx, len(mine) == 1, "phone_number_id listed once", [n.id for n in numbers])
    check(ctx, mine[0].display_phone_number == DEMO_DISPLAY_NUMBER, "display_phone_number",
          mine[0].display_phone_number)
    one = call(ctx, "get_business_phone_number", lambda: ctx.wa.get_business_phone_number())
    check(ctx, isinstance(one, BusinessPhoneNumber), "returns BusinessPhoneNumber", type(one).__name__)
    check(ctx, one.id == ctx.b["phone_number_id"], "id == phone_number_id", one.id)
    check(ctx, one.display_phone_number == DEMO_DISPLAY_NUMBER, "display_phone_number", one.display_phone_number)
    print(f"  status={one.status!r} verified_name={one.verified_name!r}")


def test_08a_employee_system_user(ctx):
    print("\n8a. plain Graph calls (admin token): EMPLOYEE system user, app, token, VIEW_TEMPLATES")
    b = ctx.b
    out = graph_post(ctx, f"/{b['business_id']}/system_users", name="pywa compat employee", role="EMPLOYEE")
    check(ctx, bool(out.get("id")), "system user id", out)
    ctx.su_id = out["id"]
    graph_post(ctx, f"/{ctx.su_id}/applications", business_app=b["app_id"])
    ctx.token_full = mint_token(ctx, "whatsapp_business_management,whatsapp_business_messaging")
    graph_post(ctx, f"/{b['waba_id']}/assigned_users", user=ctx.su_id, tasks=json.dumps(["VIEW_TEMPLATES"]))


def test_08b_view_templates_only(ctx):
    print("\n8b. token with messaging scope, user holds only VIEW_TEMPLATES")
    wa = make_wa(ctx, ctx.token_full)
    expect_error(ctx, lambda: wa.send_message(to=RECIPIENT, text="should be refused"),
                 pywa_errors.APIPermission, 200, "send_message without the MESSAGING task")
    res = call(ctx, "get_templates (VIEW_TEMPLATES)", lambda: wa.get_templates())
    names = sorted(t.name for t in res)
    check(ctx, "hello_world" in names and ORDER_TEMPLATE in names, "get_templates works", names)


def test_08c_token_without_messaging_scope(ctx):
    print("\n8c. token scope=whatsapp_business_management only, user now holds MESSAGING")
    ctx.token_mgmt = mint_token(ctx, "whatsapp_business_management")
    graph_post(ctx, f"/{ctx.b['waba_id']}/assigned_users", user=ctx.su_id, tasks=json.dumps(["MESSAGING"]))
    wa = make_wa(ctx, ctx.token_mgmt)
    expect_error(ctx, lambda: wa.send_message(to=RECIPIENT, text="should be refused"),
                 pywa_errors.PermissionDenied, 10, "send_message without the whatsapp_business_messaging scope")
    # Control: the same user's token WITH the messaging scope can send now, so the
    # refusal above is the token's scope, not the user's tasks.
    wa_full = make_wa(ctx, ctx.token_full)
    sent = call(ctx, "send_message (messaging scope + MESSAGING task)",
                lambda: wa_full.send_message(to=RECIPIENT, text="allowed now"))
    check(ctx, sent.id.startswith("wamid."), "control: token with the messaging scope sends", sent.id)
