"""Meta's OpenAPI file for the WhatsApp Business Management and Cloud APIs
(business-messaging-api_v23.0.yaml, as published in facebook/openapi), checked against a
running wabagate by schemathesis.

For every operation of the file that wabagate implements, schemathesis generates requests from
the operation's parameters and bodies (valid by the schema), sent to the demo world's real
objects with the admin system user's token, and checks each answer: never a server error, a
declared content type, and a body that matches the operation's response schema for its status.
Where wabagate deliberately answers otherwise, the deviation is listed in DEVIATIONS, with its
reason, and in docs/conformance.md; nothing else is tolerated.
"""

import warnings
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks as core_checks
from schemathesis.specs.openapi import checks as openapi_checks

warnings.filterwarnings("ignore")

SPEC = Path(__file__).with_name("business-messaging-api_v23.0.yaml")
EXAMPLES = 12

# The operations of the file that wabagate implements (the others answer Graph's "unsupported
# request" error, which the file does not describe).
IMPLEMENTED = [
    ("GET", "/{Version}/{Application-ID}/whatsapp_business_solutions"),
    ("POST", "/{Version}/{Application-ID}/whatsapp_business_solution"),
    ("GET", "/{Version}/{Business-ID}"),
    ("GET", "/{Version}/{Business-ID}/client_whatsapp_business_accounts"),
    ("GET", "/{Version}/{Business-ID}/owned_whatsapp_business_accounts"),
    ("GET", "/{Version}/{Business-ID}/extendedcredits"),
    ("GET", "/{Version}/{Phone-Number-ID}"),
    ("POST", "/{Version}/{Phone-Number-ID}/messages"),
    ("POST", "/{Version}/{Phone-Number-ID}/register"),
    ("POST", "/{Version}/{Phone-Number-ID}/deregister"),
    ("POST", "/{Version}/{Phone-Number-ID}/request_code"),
    ("POST", "/{Version}/{Phone-Number-ID}/verify_code"),
    ("GET", "/{Version}/{Solution-ID}"),
    ("POST", "/{Version}/{Solution-ID}/accept"),
    ("POST", "/{Version}/{Solution-ID}/reject"),
    ("POST", "/{Version}/{Solution-ID}/send_deactivation_request"),
    ("POST", "/{Version}/{Solution-ID}/accept_deactivation_request"),
    ("POST", "/{Version}/{Solution-ID}/reject_deactivation_request"),
    ("GET", "/{Version}/{User-ID}/assigned_whatsapp_business_accounts"),
    ("GET", "/{Version}/{WhatsApp-Business-Account-ID}/assigned_users"),
    ("POST", "/{Version}/{WhatsApp-Business-Account-ID}/assigned_users"),
    ("DELETE", "/{Version}/{WhatsApp-Business-Account-ID}/assigned_users"),
    ("GET", "/{Version}/{WABA-ID}"),
    ("POST", "/{Version}/{WABA-ID}"),
    ("GET", "/{Version}/{WABA-ID}/phone_numbers"),
    ("GET", "/{Version}/{WABA-ID}/solutions"),
    ("GET", "/{Version}/{WABA-ID}/subscribed_apps"),
    ("POST", "/{Version}/{WABA-ID}/subscribed_apps"),
    ("DELETE", "/{Version}/{WABA-ID}/subscribed_apps"),
    ("GET", "/{Version}/{WABA-ID}/message_templates"),
    ("POST", "/{Version}/{WABA-ID}/message_templates"),
    ("DELETE", "/{Version}/{WABA-ID}/message_templates"),
    ("GET", "/{Version}/{TEMPLATE_ID}"),
    ("POST", "/{Version}/{TEMPLATE_ID}"),
]

# (method, path) -> {check name: reason}: checks wabagate deliberately fails on an operation.
# Each is explained in docs/conformance.md.
DEVIATIONS = {
    ("GET", "/{Version}/{WABA-ID}/phone_numbers"): {
        "response_schema_conformance": "the file requires `status` in every listed number; Graph's default "
        "fields (what pywa and Meta's examples show) are verified_name, code_verification_status, "
        "display_phone_number, quality_rating and id, and `status` comes with fields=status",
    },
}

CHECKS = (
    core_checks.not_a_server_error,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
)


@pytest.fixture(scope="session")
def schema():
    return schemathesis.openapi.from_path(str(SPEC))


@pytest.fixture(scope="session")
def world(wabagate):
    """The real objects the generated requests are sent to."""
    graph = f"{wabagate['graph_url']}/v23.0"
    auth = {"Authorization": f"Bearer {wabagate['admin_token']}"}
    waba = wabagate["waba_id"]
    template = requests.get(f"{graph}/{waba}/message_templates", headers=auth, timeout=10).json()["data"][0]["id"]
    # A system user of the business to assign, so assignment requests reach the rules.
    employee = requests.post(
        f"{graph}/{wabagate['business_id']}/system_users", headers=auth, data={"name": "Conformance"}, timeout=10
    ).json()["id"]
    return {
        "base_url": wabagate["graph_url"],
        "auth": auth,
        "path": {
            "Version": "v23.0",
            "Business-ID": wabagate["business_id"],
            "Application-ID": wabagate["app_id"],
            "Phone-Number-ID": wabagate["phone_number_id"],
            "WABA-ID": waba,
            "WhatsApp-Business-Account-ID": waba,
            "User-ID": wabagate["admin_system_user_id"],
            "TEMPLATE_ID": template,
            # The demo world has no Multi-Partner Solution: these operations answer Graph's
            # error for an unknown object, which must still be well-formed.
            "Solution-ID": "1",
        },
        # Query and body parameters that must name real objects.
        "query": {"business": wabagate["business_id"], "user": employee},
    }


def test_every_implemented_operation_is_in_the_file(schema):
    in_file = set()
    for result in schema.get_all_operations():
        op = result.ok()
        in_file.add((op.method.upper(), op.path))
    assert set(IMPLEMENTED) <= in_file, set(IMPLEMENTED) - in_file


@pytest.mark.parametrize("method,path", IMPLEMENTED, ids=[f"{m} {p}" for m, p in IMPLEMENTED])
def test_answers_conform_to_meta_s_openapi_file(schema, world, method, path):
    operation = schema[path][method]
    allowed = DEVIATIONS.get((method, path), {})
    checks = [c for c in CHECKS if c.__name__ not in allowed]
    statuses = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
    def run(case):
        case.path_parameters = {k: world["path"].get(k, v) for k, v in (case.path_parameters or {}).items()}
        if case.query:
            # A `fields` selection narrows a Graph answer to what was asked (and `id`), leaving
            # out properties the file calls required: answers are checked with their defaults.
            case.query = {k: world["query"].get(k, v) for k, v in case.query.items() if k != "fields"}
        if isinstance(case.body, dict):
            case.body = {k: world["query"].get(k, v) for k, v in case.body.items()}
        case.headers = {**(case.headers or {}), **world["auth"]}
        response = case.call(base_url=world["base_url"], timeout=10)
        statuses.append(response.status_code)
        case.validate_response(response, checks=checks)

    run()
    assert statuses, "no request was sent"
    print(f"{method} {path}: {sorted(set(statuses))} of {len(statuses)}")
