"""template.yaml, secure by default (issue 15, items 1, 2 and 4): every route of the deployed HTTP API but the four
public GETs needs a caller, in both AuthModes (a JWT authorizer, or AWS_IAM); there is no unauthenticated mode; the
tenancy and quota Parameters reach the functions under the environment names the code reads. Each mode is checked on
the template as CloudFormation would create it (Conditions and Fn::If evaluated: local.template.rendered)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.template import ROOT, function_environment, load, rendered, role_statements

DOCUMENT = load()
PARAMETERS = DOCUMENT["Parameters"]
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
MODES = {
    "JWT": {"AuthMode": "JWT", "JwtIssuer": ISSUER, "JwtAudience": "client-one,client-two"},
    "IAM": {"AuthMode": "IAM"},
}
PUBLIC = {"GET /", "GET /health", "GET /ui", "GET /ui/{proxy+}"}
API_TYPES = ("AWS::ApiGatewayV2::", "AWS::ApiGateway::", "AWS::Serverless::Api", "AWS::Serverless::HttpApi")


def _rendered(mode: str) -> dict[str, Any]:
    return rendered(DOCUMENT, MODES[mode])


def routes(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each route the deployed API has, by route key; a key twice fails (CloudFormation would refuse it too)."""
    found: dict[str, dict[str, Any]] = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            properties = resource["Properties"]
            assert properties["RouteKey"] not in found, properties["RouteKey"]
            found[properties["RouteKey"]] = properties
    return found


# -- routes and their authorization ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_api_has_the_public_gets_and_the_proxy_route_only(mode: str) -> None:
    assert set(routes(_rendered(mode))) == PUBLIC | {"ANY /{proxy+}"}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_route_but_the_public_gets_needs_a_caller(mode: str) -> None:
    resources = _rendered(mode)
    for key, route in routes(resources).items():
        if key in PUBLIC:
            continue
        if mode == "JWT":
            assert route["AuthorizationType"] == "JWT", key
            authorizer = resources[route["AuthorizerId"]["Ref"]]
            assert authorizer["Type"] == "AWS::ApiGatewayV2::Authorizer"
            assert authorizer["Properties"]["ApiId"] == {"Ref": "FlowApi"}
        else:
            assert route["AuthorizationType"] == "AWS_IAM", key
            assert "AuthorizerId" not in route, key


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_public_routes_are_gets_without_authorization(mode: str) -> None:
    for key, route in routes(_rendered(mode)).items():
        if key in PUBLIC:
            assert key.startswith("GET ")
            assert route["AuthorizationType"] == "NONE", key
            assert "AuthorizerId" not in route and "AuthorizationScopes" not in route, key


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_route_reaches_the_api_function_through_the_one_integration(mode: str) -> None:
    resources = _rendered(mode)
    for key, route in routes(resources).items():
        assert route["ApiId"] == {"Ref": "FlowApi"}, key
        assert route["Target"] == {"Fn::Sub": "integrations/${FlowApiIntegration}"}, key
    integration = resources["FlowApiIntegration"]["Properties"]
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    assert "${ApiFunction.Arn}" in integration["IntegrationUri"]["Fn::Sub"]
    permission = resources["ApiFunctionInvokePermission"]["Properties"]
    assert (permission["FunctionName"], permission["Principal"]) == ({"Ref": "ApiFunction"}, "apigateway.amazonaws.com")
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${FlowApi}/*")


def test_the_jwt_authorizer_checks_the_bearer_token_against_the_issuer_and_audience_parameters() -> None:
    authorizers = [
        resource for resource in _rendered("JWT").values() if resource["Type"] == "AWS::ApiGatewayV2::Authorizer"
    ]
    assert len(authorizers) == 1
    properties = authorizers[0]["Properties"]
    assert properties["AuthorizerType"] == "JWT"
    assert properties["IdentitySource"] == ["$request.header.Authorization"]
    assert properties["JwtConfiguration"] == {"Issuer": ISSUER, "Audience": ["client-one", "client-two"]}


def test_iam_mode_has_no_authorizer_resource() -> None:
    types = {resource["Type"] for resource in _rendered("IAM").values()}
    assert "AWS::ApiGatewayV2::Authorizer" not in types


@pytest.mark.parametrize("mode", sorted(MODES))
def test_no_route_comes_from_elsewhere(mode: str) -> None:
    # A SAM Api/HttpApi event or a second API would add routes this file does not see (and SAM's without auth).
    resources = _rendered(mode)
    apis = [name for name, resource in resources.items() if resource["Type"] in API_TYPES[2:]]
    assert apis == []
    assert [name for name, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api"] == ["FlowApi"]
    assert "Body" not in resources["FlowApi"]["Properties"]
    assert "Target" not in resources["FlowApi"]["Properties"]  # quick create: a default route without auth
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            events = resource["Properties"].get("Events", {}).values()
            assert not [event for event in events if event["Type"] in {"Api", "HttpApi"}], name


def test_the_api_resources_come_before_every_sam_function_for_sam_local() -> None:
    # `sam local start-api` reads the routes of the first kind of API resource it meets (SamApiProvider for
    # AWS::Serverless::Function, CfnApiProvider for AWS::ApiGatewayV2::*): a function first, and it serves no route.
    kinds = [resource["Type"] for resource in DOCUMENT["Resources"].values()]
    first_function = kinds.index("AWS::Serverless::Function")
    assert [kind for kind in kinds[:first_function] if kind.startswith(API_TYPES)]
    assert not [kind for kind in kinds[first_function:] if kind.startswith(API_TYPES)]


def test_the_proxy_route_has_no_authorizer_chosen_by_if() -> None:
    # `sam local start-api` leaves an !If with AWS::NoValue unresolved and then fails on an AuthorizerId that is a
    # mapping: the mode picks a route resource by Condition instead.
    for name, resource in DOCUMENT["Resources"].items():
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            assert isinstance(resource["Properties"]["AuthorizationType"], str), name
            assert "Fn::If" not in json.dumps(resource["Properties"].get("AuthorizerId", {})), name


# -- parameters ---------------------------------------------------------------------------------------


def test_auth_mode_is_jwt_or_iam_and_jwt_by_default() -> None:
    spec = PARAMETERS["AuthMode"]
    assert (spec["Default"], spec["AllowedValues"]) == ("JWT", ["JWT", "IAM"])


def test_jwt_issuer_and_audience_default_empty_and_a_rule_requires_them_in_jwt_mode() -> None:
    assert (PARAMETERS["JwtIssuer"]["Type"], PARAMETERS["JwtIssuer"]["Default"]) == ("String", "")
    assert (PARAMETERS["JwtAudience"]["Type"], PARAMETERS["JwtAudience"]["Default"]) == ("CommaDelimitedList", "")
    rule = DOCUMENT["Rules"]["JwtNeedsIssuerAndAudience"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "AuthMode"}, "JWT"]}
    assertions = [entry["Assert"] for entry in rule["Assertions"]]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]} in assertions
    assert {"Fn::Not": [{"Fn::Contains": [{"Ref": "JwtAudience"}, ""]}]} in assertions


@pytest.mark.parametrize(
    ("issuer", "allowed"),
    [
        ("", True),
        (ISSUER, True),
        ("https://example.eu.auth0.com/", True),
        ("http://example.com", False),
        ("example.com", False),
        ("https://a.example.com, https://b.example.com", False),
    ],
)
def test_the_issuer_is_an_https_url(issuer: str, allowed: bool) -> None:
    assert bool(re.fullmatch(PARAMETERS["JwtIssuer"]["AllowedPattern"], issuer)) is allowed


@pytest.mark.parametrize(
    ("parameter", "kind", "default"),
    [
        ("TenantClaim", "String", "sub"),
        ("RunningExecutionsQuota", "Number", 100),
        ("StartsPerSecondQuota", "Number", 10),
    ],
)
def test_tenancy_and_quota_parameters_and_their_defaults(parameter: str, kind: str, default: Any) -> None:
    spec = PARAMETERS[parameter]
    assert (spec["Type"], spec["Default"]) == (kind, default)
    if kind == "Number":
        assert spec["MinValue"] == 0
        assert "0 means no limit" in spec["Description"]


def test_the_run_quota_per_execution_is_the_transitions_ceiling() -> None:
    assert "quota of runs per execution" in PARAMETERS["MaxTransitionsCeiling"]["Description"]


#: Each function's variables from these Parameters; a function not listed gets none of them.
WIRING = {
    "ApiFunction": {
        "AUTH_MODE": "AuthMode",
        "TENANT_CLAIM": "TenantClaim",
        "QUOTA_RUNNING_EXECUTIONS": "RunningExecutionsQuota",
        "QUOTA_STARTS_PER_SECOND": "StartsPerSecondQuota",
    },
    # Subflow tasks start child executions.
    "TaskRunnerFunction": {"QUOTA_RUNNING_EXECUTIONS": "RunningExecutionsQuota"},
}
WIRED = {variable for variables in WIRING.values() for variable in variables}
FUNCTIONS = sorted(name for name, r in DOCUMENT["Resources"].items() if r["Type"] == "AWS::Serverless::Function")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_parameters_reach_the_functions_under_the_names_the_code_reads(function: str) -> None:
    variables = DOCUMENT["Resources"][function]["Properties"]["Environment"]["Variables"]
    expected = WIRING.get(function, {})
    assert {name: variables[name] for name in WIRED if name in variables} == {
        name: {"Ref": parameter} for name, parameter in expected.items()
    }


def test_the_defaults_reach_the_api_function_and_overrides_follow() -> None:
    defaults = function_environment(DOCUMENT, "ApiFunction")
    assert {name: defaults[name] for name in WIRING["ApiFunction"]} == {
        "AUTH_MODE": "JWT",
        "TENANT_CLAIM": "sub",
        "QUOTA_RUNNING_EXECUTIONS": "100",
        "QUOTA_STARTS_PER_SECOND": "10",
    }
    overridden = function_environment(
        DOCUMENT, "TaskRunnerFunction", {"RunningExecutionsQuota": "0", "AuthMode": "IAM"}
    )
    assert overridden["QUOTA_RUNNING_EXECUTIONS"] == "0"
    assert "AUTH_MODE" not in overridden


@pytest.mark.parametrize("function", ["ApiFunction", "TaskRunnerFunction"])
def test_the_functions_that_count_may_update_and_put_items(function: str) -> None:
    # The quota counters are conditional UpdateItems, alone or in a transaction with the execution's PutItem; a
    # transaction is authorized item by item (IAM has no dynamodb:TransactWriteItems action).
    actions = {
        action
        for _, statement in role_statements(DOCUMENT, function)
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }
    assert {"dynamodb:UpdateItem", "dynamodb:PutItem"} <= actions


# -- the events sam local invoke sends --------------------------------------------------------------------


def _route_key(event: dict[str, Any]) -> str:
    return str(event["requestContext"]["routeKey"])


@pytest.mark.parametrize("path", sorted((ROOT / "events").glob("api_*.json")), ids=lambda path: path.name)
def test_api_events_are_shaped_as_api_gateway_sends_them_for_their_route(path: Any) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    key = _route_key(event)
    assert event["routeKey"] == key
    assert key in routes(_rendered("JWT"))
    context = event["requestContext"]
    if key in PUBLIC:
        assert "authorizer" not in context
        return
    jwt = context["authorizer"]["jwt"]
    assert jwt["scopes"] is None
    assert all(isinstance(value, str) for value in jwt["claims"].values())
    assert jwt["claims"]["sub"] == "dev"
    assert set(jwt["claims"]["scope"].split()) == {"flows:read", "flows:write", "executions:read", "executions:write"}


# -- the README's deploy section --------------------------------------------------------------------------


def _deploy_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Deploying", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    "parameter",
    ["AuthMode", "JwtIssuer", "JwtAudience", "TenantClaim", "RunningExecutionsQuota", "StartsPerSecondQuota"],
)
def test_the_readme_deploy_section_documents_each_auth_and_quota_parameter(parameter: str) -> None:
    assert f"| `{parameter}` |" in _deploy_section()


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer",
        "/oauth2/token",
        "--aws-sigv4",
        "awscurl",
        "execute-api:Invoke",
        "Retry-After",
        "404",
        "flows:read flows:write executions:read executions:write",
    ],
)
def test_the_readme_deploy_section_says_how_to_call_the_deployed_api(text: str) -> None:
    assert text in _deploy_section()
