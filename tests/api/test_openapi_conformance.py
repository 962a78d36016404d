"""The OpenAPI document says what the server does, and the server does what it says."""

from __future__ import annotations


def test_405_lists_every_method_the_path_answers(client, family_world):
    resp = client.options("/accounts", headers=family_world["admin"].headers)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "GET, POST"
    item = client.request("PATCH", "/residents/1/geofences/2")
    assert item.status_code == 405 and item.headers["Allow"] == "DELETE, GET, PUT"


def test_a_time_must_be_iso_8601_not_a_number(client, family_world):
    admin = family_world["admin"].headers
    assert client.get("/audit", params={"since": "0.5"}, headers=admin).status_code == 422
    assert client.get("/audit", params={"since": "1764547200"}, headers=admin).status_code == 422
    ok = client.get("/audit", params={"since": "2026-11-23T08:00:00+08:00"}, headers=admin)
    assert ok.status_code == 200


def test_ids_beyond_bigint_are_refused_as_the_schema_says(client, family_world):
    admin = family_world["admin"].headers
    too_big = 2**63
    assert client.get(f"/residents/{too_big}", headers=admin).status_code == 422
    assert client.get(f"/residents/{too_big - 1}", headers=admin).status_code == 404
    (param,) = client.get("/openapi.json").json()["paths"]["/residents/{resident_id}"]["get"][
        "parameters"
    ]
    assert param["schema"]["maximum"] == too_big - 1


def test_operation_ids_are_stable_names(client):
    spec = client.get("/openapi.json").json()
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert "residents.location.latest" in ids
    assert {"residents.list", "residents.create", "residents.get", "residents.update"} <= set(ids)
    assert not [i for i in ids if "__" in i or i.endswith(("_get", "_post"))]


def test_each_route_documents_only_the_errors_it_can_give(client):
    paths = client.get("/openapi.json").json()["paths"]

    def errors(path: str, method: str) -> set[str]:
        return {s for s in paths[path][method]["responses"] if s[0] in "45"}

    assert errors("/health", "get") == {"503"}
    assert errors("/accounts/me", "get") == {"401"}
    assert errors("/residents/{resident_id}/location/latest", "get") == {
        "401",
        "404",
        "422",
        "429",
    }
    assert "400" not in {
        s for ops in paths.values() for op in ops.values() for s in op["responses"]
    }


def test_schema_states_the_imei_check_digit_the_point_radius_and_what_may_be_cleared(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    imei = schemas["DeviceProvision"]["properties"]["device_id"]
    assert imei["pattern"] == "^[0-9]{15}$" and "Luhn check digit" in imei["description"]
    point, polygon = schemas["GeofenceWrite"]["anyOf"]
    assert point["required"] == ["radius_m"]
    assert polygon["properties"]["radius_m"] == {"type": "null"}
    update = schemas["ResidentUpdate"]["properties"]
    assert "anyOf" not in update["full_name"] and update["full_name"]["type"] == "string"
    assert {"type": "null"} in update["phone"]["anyOf"]  # a phone number may be cleared


def test_point_fence_without_radius_is_refused(client, family_world):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    body = {"name": "home", "geometry": {"type": "Point", "coordinates": [122.99, 41.1]}}
    resp = client.post(f"/residents/{rid}/geofences", json=body, headers=worker.headers)
    assert resp.status_code == 422


def test_swagger_ui_and_favicon_are_served_from_this_server(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert len(script.content) > 100_000
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
    assert client.get("/docs/assets/..%2Fpyproject.toml").status_code == 404
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
