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
