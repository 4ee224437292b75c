"""End-to-end: the UNMODIFIED `facebook-business` 26.0.3 Python SDK against a real wabagate.

One scenario, split into ordered steps that share state. Each step prints what it
checks (run with `-s` to watch); the first mismatch fails the step and the remaining
steps are reported as xfail ("previous step failed").

Run from the repository root after `cargo build -p wabagate`:

    python3 -m pytest compat/python -q
"""

import json
import math
import warnings
from urllib.parse import parse_qs, urlsplit

import pytest
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.extendedcredit import ExtendedCredit
from facebook_business.adobjects.extendedcreditallocationconfig import ExtendedCreditAllocationConfig
from facebook_business.adobjects.systemuser import SystemUser
from facebook_business.adobjects.user import User
from facebook_business.adobjects.whatsappbusinessaccount import WhatsAppBusinessAccount
from facebook_business.api import Cursor, FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

pytestmark = pytest.mark.incremental

API_VERSION = "v23.0"
SCOPES = ["business_management", "whatsapp_business_management"]
EXTRA_USERS = 5
EXTRA_TEMPLATES = 6
TEMPLATE_FIELDS = ["id", "name", "status", "language", "category"]


# --------------------------------------------------------------------------- helpers


class Ctx(dict):
    """Shared scenario state (attribute access for brevity)."""

    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def _describe(resp):
    req = resp.request
    body = req.body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    return f"{req.method} {req.url}" + (f"\n    body: {body}" if body else "") + (
        f"\n  -> HTTP {resp.status_code} {resp.text[:800]}"
    )


def make_api(graph_url, app_id, app_secret, token, log):
    """A session exactly as an SDK user would build it, plus a response hook that
    records every HTTP exchange (for diagnostics and wire-level checks)."""
    session = FacebookSession(app_id, app_secret, token)
    session.GRAPH = graph_url
    session.requests.hooks["response"].append(lambda r, *a, **k: log.append(r))
    # FacebookAdsApi(...) directly: no crash-log excepthook (init() would install one).
    return FacebookAdsApi(session, api_version=API_VERSION)


def check(ctx, cond, what, detail=""):
    """Print what is being checked; on mismatch fail with the last HTTP exchange."""
    print(f"  [{'ok' if cond else 'FAIL'}] {what}" + (f"  ({detail})" if detail else ""))
    if not cond:
        last = _describe(ctx.log[-1]) if ctx.log else "(no HTTP exchange recorded)"
        pytest.fail(f"{what}: {detail}\nlast exchange:\n  {last}", pytrace=False)


def expect_error(ctx, fn, what):
    """Run fn, which must raise FacebookRequestError; return the error."""
    try:
        result = fn()
    except FacebookRequestError as e:
        print(
            f"  {what}: FacebookRequestError http={e.http_status()} code={e.api_error_code()} "
            f"subcode={e.api_error_subcode()} type={e.api_error_type()} msg={e.api_error_message()!r}"
        )
        return e
    check(ctx, False, f"{what} raises FacebookRequestError", f"returned {result!r} instead")


@pytest.fixture(scope="module")
def ctx(wabagate):
    c = Ctx(b=wabagate, log=[])
    c.api = make_api(
        wabagate["graph_url"], wabagate["app_id"], wabagate["app_secret"], wabagate["admin_token"], c.log
    )
    return c


def biz(ctx, api=None):
    return Business(ctx.b["business_id"], api=api or ctx.api)


def waba(ctx, api=None):
    return WhatsAppBusinessAccount(ctx.b["waba_id"], api=api or ctx.api)


def template_params(name, language="en_US"):
    return {
        "name": name,
        "category": "UTILITY",
        "language": language,
        "components": [
            {"type": "BODY", "text": "Order {{1}} shipped", "example": {"body_text": [["123"]]}}
        ],
    }


def list_templates(ctx, fields=TEMPLATE_FIELDS, params=None):
    """All templates of the demo WABA (every page), as plain dicts, plus the Cursor."""
    with warnings.catch_warnings():
        # The SDK declares no fields for the message_templates edge; asking for any
        # only warns ("message_templates does not allow field id") in non-strict mode.
        warnings.simplefilter("ignore")
        cursor = waba(ctx).get_message_templates(fields=fields, params=params or {})
        items = [dict(t) for t in cursor]
    return items, cursor


def employee_api(ctx):
    """The EMPLOYEE system user's token from step 5 (no finance permission)."""
    return make_api(ctx.b["graph_url"], ctx.b["app_id"], None, ctx.token, ctx.log)


def client_waba_funding(ctx):
    w = WhatsAppBusinessAccount(ctx.b["client_waba_id"], api=ctx.api).api_get(fields=["primary_funding_id"])
    return dict(w).get("primary_funding_id")


# --------------------------------------------------------------------------- steps


def test_01_admin_session_talks_to_server(ctx):
    print("\n1. admin session (app secret => appsecret_proof on every call)")
    resp = ctx.api.call("GET", (ctx.b["business_id"],), params={"fields": "id,name"})
    data = resp.json()
    check(ctx, data.get("id") == ctx.b["business_id"], "GET /{business} returns the business id", data)
    q = parse_qs(urlsplit(ctx.log[-1].request.url).query)
    check(ctx, urlsplit(ctx.log[-1].request.url).path.startswith(f"/{API_VERSION}/"), "path carries the version")
    check(ctx, q.get("access_token") == [ctx.b["admin_token"]], "token sent in the query string")
    check(ctx, len(q.get("appsecret_proof", [""])[0]) == 64, "appsecret_proof sent in the query string")


def test_01b_wrong_app_secret_is_rejected(ctx):
    print("\n1b. a session with the wrong app secret (bad appsecret_proof) is refused")
    bad = make_api(ctx.b["graph_url"], ctx.b["app_id"], "0" * 32, ctx.b["admin_token"], ctx.log)
    e = expect_error(ctx, lambda: biz(ctx, bad).api_get(fields=["id"]), "GET /{business} with bad proof")
    check(ctx, 400 <= (e.http_status() or 0) < 500, "4xx status", e.http_status())
    check(ctx, e.api_error_code() == 100, "code 100 (invalid appsecret_proof)", e.api_error_code())


def test_02_create_system_user(ctx):
    print("\n2. Business.create_system_user(name='SDK Bot', role=EMPLOYEE)")
    su = biz(ctx).create_system_user(params={"name": "SDK Bot", "role": "EMPLOYEE"})
    su_id = su.get("id") if hasattr(su, "get") else None
    check(ctx, isinstance(su_id, str) and su_id.isdigit(), "returns a numeric id string", repr(su_id))
    check(ctx, su_id != ctx.b["admin_system_user_id"], "id differs from the admin system user")
    ctx.su_id = su_id


def test_03_list_system_users(ctx):
    print("\n3. Business.get_system_users(fields=[id,name,role])")
    users = [dict(u) for u in biz(ctx).get_system_users(fields=["id", "name", "role"])]
    print(f"  got {users}")
    mine = [u for u in users if u.get("id") == ctx.su_id]
    check(ctx, len(mine) == 1, "new system user listed exactly once", users)
    check(ctx, mine[0].get("name") == "SDK Bot", "name is 'SDK Bot'", mine[0])
    check(ctx, mine[0].get("role") == "EMPLOYEE", "role is EMPLOYEE", mine[0])
    check(
        ctx,
        any(u.get("id") == ctx.b["admin_system_user_id"] for u in users),
        "admin system user listed too",
    )
    ctx.initial_users = {u["id"] for u in users}


def test_04_install_app(ctx):
    print("\n4. User(su).create_application(business_app=app)")
    User(fbid=ctx.su_id, api=ctx.api).create_application(params={"business_app": ctx.b["app_id"]})
    last = ctx.log[-1]
    check(ctx, last.request.method == "POST" and last.request.url.split("?")[0].endswith(
        f"/{ctx.su_id}/applications"), "POST /{su}/applications sent")
    check(ctx, 200 <= last.status_code < 300, "2xx response", f"HTTP {last.status_code} {last.text}")


def test_05_mint_token(ctx):
    print("\n5. User(su).create_access_token(business_app, scope=[...], set_token_expires_in_60_days=False)")
    result = User(fbid=ctx.su_id, api=ctx.api).create_access_token(
        params={
            "business_app": ctx.b["app_id"],
            "scope": SCOPES,
            "set_token_expires_in_60_days": False,
        }
    )
    print(f"  SDK returned {type(result).__name__}: keys {sorted(dict(result).keys())}")
    body = ctx.log[-1].request.body
    body = body.decode() if isinstance(body, bytes) else body
    form = parse_qs(body or "")
    check(ctx, form.get("scope") == [json.dumps(SCOPES, separators=(",", ":"))], "scope sent as JSON array", form)
    check(ctx, form.get("set_token_expires_in_60_days") == ["false"], "bool sent as 'false'", form)
    token = result["access_token"]
    check(ctx, isinstance(token, str) and token.startswith("EAA"), "access_token starts with EAA", repr(token))
    ctx.token = token


def test_06_debug_token(ctx):
    print("\n6. GET /debug_token?input_token=<new token>")
    data = ctx.api.call("GET", ("debug_token",), params={"input_token": ctx.token}).json()["data"]
    print(f"  data = {data}")
    check(ctx, data.get("is_valid") is True, "is_valid true", data.get("is_valid"))
    check(ctx, str(data.get("user_id")) == ctx.su_id, "user_id == su_id", data.get("user_id"))
    check(ctx, str(data.get("app_id")) == ctx.b["app_id"], "app_id == app_id", data.get("app_id"))
    check(ctx, data.get("type") == "SYSTEM_USER", "type SYSTEM_USER", data.get("type"))
    check(ctx, data.get("expires_at") == 0, "expires_at 0 (never)", data.get("expires_at"))
    check(ctx, sorted(data.get("scopes") or []) == sorted(SCOPES), "scopes are the two requested", data.get("scopes"))


def test_07_assign_manage(ctx):
    print("\n7. WhatsAppBusinessAccount.create_assigned_user(user=su, tasks=[MANAGE])")
    waba(ctx).create_assigned_user(params={"user": ctx.su_id, "tasks": ["MANAGE"]})
    check(ctx, ctx.log[-1].json().get("success") is True, 'response is {"success": true}', ctx.log[-1].text)


def test_08_list_assigned_users(ctx):
    print("\n8. WhatsAppBusinessAccount.get_assigned_users(fields=[id,name,tasks], business=...)")
    with warnings.catch_warnings():
        # AssignedUser does not declare `tasks`; the SDK only warns (non-strict mode).
        warnings.simplefilter("ignore")
        users = [
            dict(u)
            for u in waba(ctx).get_assigned_users(
                fields=["id", "name", "tasks"], params={"business": ctx.b["business_id"]}
            )
        ]
    print(f"  got {users}")
    mine = [u for u in users if str(u.get("id")) == ctx.su_id]
    check(ctx, len(mine) == 1, "system user listed exactly once", users)
    check(ctx, mine[0].get("tasks") == ["MANAGE"], "tasks == ['MANAGE']", mine[0])
    check(ctx, mine[0].get("name") == "SDK Bot", "name is 'SDK Bot'", mine[0])


@pytest.mark.parametrize("with_secret", [False, True], ids=["no-app-secret", "with-app-secret"])
def test_09_use_new_token(ctx, with_secret):
    print(f"\n9. new token, {'with' if with_secret else 'without'} app secret")
    api2 = make_api(ctx.b["graph_url"], ctx.b["app_id"], ctx.b["app_secret"] if with_secret else None,
                    ctx.token, ctx.log)
    w = waba(ctx, api2).api_get(fields=["id", "name"])
    q = parse_qs(urlsplit(ctx.log[-1].request.url).query)
    check(ctx, ("appsecret_proof" in q) == with_secret, "appsecret_proof present iff app secret given", q.keys())
    check(ctx, w.get("id") == ctx.b["waba_id"], "WABA readable: id matches", dict(w))
    check(ctx, bool(w.get("name")), "WABA has a name", dict(w))

    with warnings.catch_warnings():
        # WhatsAppBusinessAccount does not declare `tasks` either; warn-only in the SDK.
        warnings.simplefilter("ignore")
        accounts = [
            dict(a)
            for a in SystemUser(ctx.su_id, api=api2).get_assigned_whats_app_business_accounts(
                fields=["id", "name", "tasks"]
            )
        ]
    print(f"  assigned WABAs: {accounts}")
    mine = [a for a in accounts if a.get("id") == ctx.b["waba_id"]]
    check(ctx, len(mine) == 1, "assigned_whatsapp_business_accounts lists the WABA", accounts)
    check(ctx, mine[0].get("tasks") == ["MANAGE"], "with tasks ['MANAGE']", mine[0])


def test_10_unassign(ctx):
    print("\n10. WhatsAppBusinessAccount.delete_assigned_users(user=su)")
    waba(ctx).delete_assigned_users(params={"user": ctx.su_id})
    last = ctx.log[-1]
    check(ctx, last.request.method == "DELETE", "DELETE sent")
    check(ctx, last.json().get("success") is True, 'response is {"success": true}', last.text)


def test_11_new_token_lost_access(ctx):
    print("\n11. new token can no longer read the WABA")
    api2 = make_api(ctx.b["graph_url"], ctx.b["app_id"], None, ctx.token, ctx.log)
    e = expect_error(ctx, lambda: waba(ctx, api2).api_get(fields=["id", "name"]), "GET /{waba}")
    check(ctx, e.http_status() == 400, "http_status 400", e.http_status())
    check(ctx, e.api_error_code() == 100, "code 100", e.api_error_code())
    check(ctx, e.api_error_subcode() == 33, "subcode 33", e.api_error_subcode())
    check(ctx, e.api_error_type() == "GraphMethodException", "type GraphMethodException", e.api_error_type())
    check(ctx, bool(e.api_error_message()), "non-empty message", e.api_error_message())
    err = (e.body() or {}).get("error", {})
    check(ctx, isinstance(err.get("fbtrace_id"), str) and err["fbtrace_id"], "non-empty fbtrace_id", err)


def test_12_permission_and_scope_errors(ctx):
    print("\n12a. EMPLOYEE token cannot create system users")
    api2 = make_api(ctx.b["graph_url"], ctx.b["app_id"], None, ctx.token, ctx.log)
    e = expect_error(ctx, lambda: biz(ctx, api2).create_system_user(params={"name": "x"}), "create_system_user")
    check(ctx, e.api_error_code() == 200, "code 200", e.api_error_code())
    check(ctx, e.http_status() == 403, "http_status 403", e.http_status())
    check(ctx, bool((e.body() or {}).get("error", {}).get("fbtrace_id")), "non-empty fbtrace_id", e.body())

    print("\n12b. minting with an unknown scope")
    e = expect_error(
        ctx,
        lambda: User(fbid=ctx.su_id, api=ctx.api).create_access_token(
            params={"business_app": ctx.b["app_id"], "scope": ["not_a_scope"],
                    "set_token_expires_in_60_days": False}
        ),
        "create_access_token(scope=['not_a_scope'])",
    )
    check(ctx, e.api_error_code() == 3962, "code 3962", e.api_error_code())
    check(ctx, 400 <= (e.http_status() or 0) < 500, "4xx status", e.http_status())


def test_13_cursor_paging(ctx):
    print(f"\n13. create {EXTRA_USERS} more system users, then page through them 2 at a time")
    created = set()
    for i in range(EXTRA_USERS):
        su = biz(ctx).create_system_user(params={"name": f"SDK Pager {i}", "role": "EMPLOYEE"})
        created.add(su["id"])
    check(ctx, len(created) == EXTRA_USERS, f"{EXTRA_USERS} distinct ids", created)
    expected = ctx.initial_users | created
    check(ctx, len(expected) == 2 + EXTRA_USERS, "demo admin + SDK Bot + new ones", sorted(ctx.initial_users))

    start = len(ctx.log)
    cursor = biz(ctx).get_system_users(fields=["id", "name"], params={"limit": 2})
    check(ctx, isinstance(cursor, Cursor), "get_system_users returns a Cursor", type(cursor))
    seen = [u["id"] for u in cursor]
    pages = [r for r in ctx.log[start:] if "/system_users" in r.request.url]
    for r in pages:
        q = parse_qs(urlsplit(r.request.url).query)
        print(f"  page: after={q.get('after')} summary={q.get('summary')} -> {len(r.json().get('data', []))} items")
    check(ctx, len(seen) == len(set(seen)), "no duplicates across pages", seen)
    check(ctx, set(seen) == expected, "every system user yielded", f"got {sorted(seen)}, want {sorted(expected)}")
    want_pages = math.ceil(len(expected) / 2)
    check(ctx, len(pages) >= want_pages, f"fetched at least {want_pages} pages", len(pages))
    check(ctx, all(len(r.json().get("data", [])) <= 2 for r in pages), "each page honours limit=2")
    check(
        ctx,
        all("after" in parse_qs(urlsplit(r.request.url).query) for r in pages[1:]),
        "later pages requested with after=<cursor>",
    )
    check(
        ctx,
        all(parse_qs(urlsplit(r.request.url).query).get("summary") == ["true"] for r in pages),
        "SDK sent summary=true",
    )
    check(ctx, cursor.total() == len(expected), "cursor.total() == number of system users",
          f"total={cursor.total()} count={len(expected)}")


def test_14_create_message_template(ctx):
    print("\n14. WhatsAppBusinessAccount.create_message_template(name, UTILITY, en_US, components)")
    before, _ = list_templates(ctx)
    print(f"  templates before: {[(t.get('name'), t.get('status')) for t in before]}")
    check(ctx, any(t.get("name") == "hello_world" and t.get("status") == "APPROVED" for t in before),
          "demo WABA has hello_world APPROVED", before)
    ctx.initial_templates = {t["id"] for t in before}

    created = waba(ctx).create_message_template(params=template_params("sdk_order_shipped"))
    print(f"  SDK returned {type(created).__name__}: {dict(created)}")
    body = ctx.log[-1].request.body
    body = body.decode() if isinstance(body, bytes) else body
    form = parse_qs(body or "")
    check(ctx, json.loads(form.get("components", ["null"])[0]) == template_params("x")["components"],
          "components sent as a JSON array", form.get("components"))
    tid = created.get("id")
    check(ctx, isinstance(tid, str) and tid.isdigit(), "returns a numeric id string", repr(tid))
    check(ctx, tid not in ctx.initial_templates, "id is new", tid)
    check(ctx, created.get("status") == "PENDING", "status PENDING (under review)", dict(created))
    check(ctx, created.get("category") == "UTILITY", "category UTILITY", dict(created))
    ctx.templates = {tid: "sdk_order_shipped"}


def test_15_template_cursor_paging(ctx):
    print(f"\n15. create {EXTRA_TEMPLATES} more templates, then page through them 2 at a time")
    for i in range(EXTRA_TEMPLATES):
        name = f"sdk_pager_{i}"
        t = waba(ctx).create_message_template(params=template_params(name))
        check(ctx, t.get("status") == "PENDING", f"{name} created PENDING", dict(t))
        ctx.templates[t["id"]] = name
    check(ctx, len(ctx.templates) == 1 + EXTRA_TEMPLATES, "distinct ids", ctx.templates)
    expected = ctx.initial_templates | set(ctx.templates)

    start = len(ctx.log)
    items, cursor = list_templates(ctx, params={"limit": 2})
    check(ctx, isinstance(cursor, Cursor), "get_message_templates returns a Cursor", type(cursor))
    pages = [r for r in ctx.log[start:] if "/message_templates" in r.request.url]
    for r in pages:
        q = parse_qs(urlsplit(r.request.url).query)
        print(f"  page: after={q.get('after')} -> {[t.get('name') for t in r.json().get('data', [])]}")
    seen = [t["id"] for t in items]
    check(ctx, len(seen) == len(set(seen)), "every template seen exactly once", seen)
    check(ctx, set(seen) == expected, "every template yielded", f"got {sorted(seen)}, want {sorted(expected)}")
    check(ctx, len(pages) >= math.ceil(len(expected) / 2), "fetched one page per 2 templates", len(pages))
    check(ctx, all(len(r.json().get("data", [])) <= 2 for r in pages), "each page honours limit=2")
    check(ctx, all("after" in parse_qs(urlsplit(r.request.url).query) for r in pages[1:]),
          "later pages requested with after=<cursor>")
    check(ctx, cursor.total() == len(expected), "cursor.total() == number of templates",
          f"total={cursor.total()} count={len(expected)}")
    for t in items:
        check(ctx, set(TEMPLATE_FIELDS) <= set(t), f"{t.get('name')} has the requested fields", t)
        if t["id"] in ctx.templates:
            check(ctx, t["name"] == ctx.templates[t["id"]] and t["language"] == "en_US"
                  and t["category"] == "UTILITY" and t["status"] in ("PENDING", "APPROVED"),
                  f"{t['name']}: name/language/category/status as created", t)


def test_16_template_status_filter(ctx):
    print("\n16. get_message_templates(params={'status': ['APPROVED']})")
    # Review turns PENDING into APPROVED (never back), so sandwich the filtered call
    # between two unfiltered listings: approved-before must be in it, pending-after must not.
    before, _ = list_templates(ctx)
    start = len(ctx.log)
    approved, _ = list_templates(ctx, fields=["id", "name", "status"], params={"status": ["APPROVED"]})
    req = next(r for r in ctx.log[start:] if "/message_templates" in r.request.url)
    after, _ = list_templates(ctx)
    q = parse_qs(urlsplit(req.request.url).query)
    check(ctx, q.get("status") == ['["APPROVED"]'], "SDK sent status as a JSON array", q.get("status"))
    print(f"  APPROVED: {[t['name'] for t in approved]}; summary={req.json().get('summary')}")
    ids = {t["id"] for t in approved}
    check(ctx, all(t.get("status") == "APPROVED" for t in approved), "only APPROVED templates", approved)
    check(ctx, any(t.get("name") == "hello_world" for t in approved), "hello_world included", approved)
    must = {t["id"] for t in before if t["status"] == "APPROVED"}
    check(ctx, must <= ids, "every template APPROVED before the call is listed", must - ids)
    must_not = {t["id"] for t in after if t["status"] != "APPROVED"}
    check(ctx, not (must_not & ids), "no template still unapproved after the call is listed", must_not & ids)


def test_17_duplicate_template(ctx):
    print("\n17. a second en_US template with the same name is refused")
    e = expect_error(ctx, lambda: waba(ctx).create_message_template(params=template_params("sdk_order_shipped")),
                     "create_message_template(duplicate)")
    err = (e.body() or {}).get("error", {})
    check(ctx, 400 <= (e.http_status() or 0) < 500, "4xx status", e.http_status())
    check(ctx, e.api_error_code() == 100, "code 100", e.api_error_code())
    check(ctx, e.api_error_subcode() == 2388024, "subcode 2388024", e.api_error_subcode())
    check(ctx, err.get("error_user_title") == "Content in This Language Already Exists",
          "error_user_title 'Content in This Language Already Exists'", err)
    check(ctx, bool(err.get("error_user_msg")), "non-empty error_user_msg", err)


def test_18_delete_template(ctx):
    print("\n18. WhatsAppBusinessAccount.delete_message_templates(name=...)")
    tid = next(i for i, n in ctx.templates.items() if n == "sdk_pager_0")
    waba(ctx).delete_message_templates(params={"name": "sdk_pager_0"})
    last = ctx.log[-1]
    q = parse_qs(urlsplit(last.request.url).query)
    check(ctx, last.request.method == "DELETE" and q.get("name") == ["sdk_pager_0"],
          "DELETE /{waba}/message_templates?name=sdk_pager_0 sent", last.request.url)
    check(ctx, last.json().get("success") is True, 'response is {"success": true}', last.text)
    del ctx.templates[tid]
    items, cursor = list_templates(ctx)
    ids = {t["id"] for t in items}
    check(ctx, tid not in ids and "sdk_pager_0" not in {t["name"] for t in items},
          "template gone from the list", items)
    check(ctx, ids == ctx.initial_templates | set(ctx.templates), "the others are still listed", items)
    check(ctx, cursor.total() == len(ids), "cursor.total() follows", cursor.total())

    e = expect_error(ctx, lambda: waba(ctx).delete_message_templates(params={"name": "sdk_no_such_template"}),
                     "delete_message_templates(unknown name)")
    check(ctx, e.api_error_code() == 100, "code 100", e.api_error_code())
    check(ctx, 400 <= (e.http_status() or 0) < 500, "4xx status", e.http_status())


def test_19_credit_sharing(ctx):
    print("\n19. ExtendedCredit.create_whats_app_credit_sharing_and_attach(waba_id=client WABA, USD)")
    credits = [dict(c) for c in biz(ctx).get_extended_credits(fields=["id", "legal_entity_name"])]
    print(f"  extended credits: {credits}")
    mine = [c for c in credits if c.get("id") == ctx.b["extended_credit_id"]]
    check(ctx, len(mine) == 1, "Business.get_extended_credits lists the credit line", credits)
    check(ctx, bool(mine[0].get("legal_entity_name")), "with a legal_entity_name", mine[0])

    before = client_waba_funding(ctx)
    print(f"  client WABA primary_funding_id before: {before!r}")

    e = expect_error(
        ctx,
        lambda: ExtendedCredit(ctx.b["extended_credit_id"], api=ctx.api).create_whats_app_credit_sharing_and_attach(
            params={"waba_id": ctx.b["client_waba_id"], "waba_currency": "XYZ"}),
        "share with waba_currency=XYZ",
    )
    check(ctx, e.api_error_code() == 100, "bad currency: code 100", e.api_error_code())

    e = expect_error(
        ctx,
        lambda: ExtendedCredit(ctx.b["extended_credit_id"], api=employee_api(ctx))
        .create_whats_app_credit_sharing_and_attach(params={"waba_id": ctx.b["client_waba_id"], "waba_currency": "USD"}),
        "share with the EMPLOYEE token",
    )
    check(ctx, e.api_error_code() == 200, "employee (not finance editor): code 200", e.api_error_code())
    check(ctx, client_waba_funding(ctx) == before, "refused calls attached nothing", before)

    result = ExtendedCredit(ctx.b["extended_credit_id"], api=ctx.api).create_whats_app_credit_sharing_and_attach(
        params={"waba_id": ctx.b["client_waba_id"], "waba_currency": "USD"})
    print(f"  SDK returned {type(result).__name__}: {dict(result)}")
    last = ctx.log[-1]
    check(ctx, last.request.method == "POST" and last.request.url.split("?")[0].endswith(
        f"/{ctx.b['extended_credit_id']}/whatsapp_credit_sharing_and_attach"), "POST .../whatsapp_credit_sharing_and_attach")
    check(ctx, isinstance(result, ExtendedCreditAllocationConfig), "parsed as ExtendedCreditAllocationConfig",
          type(result))
    alloc_id = result.get("allocation_config_id")
    check(ctx, isinstance(alloc_id, str) and alloc_id.isdigit(), "exposes a numeric allocation_config_id",
          repr(alloc_id))
    check(ctx, result.get("waba_id") == ctx.b["client_waba_id"], "echoes waba_id", dict(result))
    ctx.alloc_id = alloc_id

    funding = client_waba_funding(ctx)
    print(f"  client WABA primary_funding_id after: {funding!r}")
    check(ctx, isinstance(funding, str) and funding.isdigit(), "client WABA now has a primary_funding_id", funding)

    alloc = ExtendedCreditAllocationConfig(alloc_id, api=ctx.api).api_get(
        fields=["receiving_credential", "request_status"])
    print(f"  allocation: {dict(alloc)}")
    cred = alloc.get("receiving_credential")
    check(ctx, cred is not None and cred.get("id") == funding,
          "allocation.receiving_credential.id == WABA.primary_funding_id", f"{cred} vs {funding}")
    check(ctx, alloc.get("request_status") not in (None, "DELETED"), "allocation not DELETED yet", dict(alloc))

    e = expect_error(
        ctx,
        lambda: ExtendedCredit(ctx.b["extended_credit_id"], api=ctx.api).create_whats_app_credit_sharing_and_attach(
            params={"waba_id": ctx.b["client_waba_id"], "waba_currency": "USD"}),
        "share again while a credit line is attached",
    )
    check(ctx, e.api_error_code() == 100, "second attach: code 100", e.api_error_code())

    ExtendedCreditAllocationConfig(alloc_id, api=ctx.api).api_delete()
    last = ctx.log[-1]
    check(ctx, last.request.method == "DELETE", "DELETE /{allocation} sent")
    check(ctx, last.json().get("success") is True, 'response is {"success": true}', last.text)
    again = ExtendedCreditAllocationConfig(alloc_id, api=ctx.api).api_get(
        fields=["receiving_credential", "request_status"])
    print(f"  allocation after delete: {dict(again)}")
    check(ctx, again.get("request_status") == "DELETED", "request_status DELETED", dict(again))
    print(f"  client WABA primary_funding_id after revoke: {client_waba_funding(ctx)!r}")


def test_20_error_fields(ctx):
    print("\n20. every field a FacebookRequestError exposes (EMPLOYEE token sharing the credit line)")
    e = expect_error(
        ctx,
        lambda: ExtendedCredit(ctx.b["extended_credit_id"], api=employee_api(ctx))
        .create_whats_app_credit_sharing_and_attach(params={"waba_id": ctx.b["client_waba_id"], "waba_currency": "USD"}),
        "share with the EMPLOYEE token",
    )
    msg = e.api_error_message()
    check(ctx, isinstance(msg, str) and msg.startswith("(#200)"), "api_error_message() starts with '(#200)'", msg)
    check(ctx, e.api_error_code() == 200, "api_error_code() == 200", e.api_error_code())
    check(ctx, e.api_error_subcode() is None, "api_error_subcode() is None (absent)", e.api_error_subcode())
    check(ctx, e.api_error_type() == "OAuthException", "api_error_type() == 'OAuthException'", e.api_error_type())
    check(ctx, e.api_transient_error() in (False, None), "api_transient_error() is False/None",
          e.api_transient_error())
    check(ctx, e.http_status() == 403, "http_status() == 403", e.http_status())
    err = (e.body() or {}).get("error", {})
    check(ctx, isinstance(err.get("fbtrace_id"), str) and err["fbtrace_id"], "body()['error']['fbtrace_id']", err)
    check(ctx, "error_data" not in err or isinstance(err["error_data"], dict), "error_data absent or a dict", err)
    blame = e.api_blame_field_specs()
    check(ctx, blame is None or isinstance(blame, list), "api_blame_field_specs() does not crash", repr(blame))
    check(ctx, e.request_context().get("method") == "POST", "request_context() names the method",
          e.request_context())
    check(ctx, "(#200)" in str(e), "str(error) renders the response", str(e)[:200])
