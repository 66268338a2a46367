"""The route table the $default handler uses to answer 405 must be exactly the template's routes."""

from qbsync.api.routes import ROUTES, allowed_methods
from qbsync_local.template import SamTemplate


def test_route_table_matches_the_template_http_api_events():
    # Given every HttpApi event the template declares (except API Gateway's $default catch-all)
    declared = {
        (route.method, route.path)
        for function in SamTemplate().functions()
        for route in function.routes
        if route.path != "$default"
    }
    # Then the layer's route table lists exactly those
    assert set(ROUTES) == declared
    assert len(ROUTES) == len(set(ROUTES))


def test_allowed_methods_matches_path_parameters_per_segment():
    assert allowed_methods("/tenants/loc_1/settings") == ["GET", "PUT"]
    assert allowed_methods("/tenants/loc_1/links/customers/c9") == ["DELETE"]
    # a parameter never spans a slash, and unknown paths have no methods
    assert allowed_methods("/tenants/a/b/settings") == []
    assert allowed_methods("/tenants//settings") == []
    assert allowed_methods("/nope") == []
