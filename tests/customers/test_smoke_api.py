def test_bulk_then_list(api_a):
    rows = [
        {
            "event_id": "e1",
            "customer": "c1",
            "product": "p1",
            "kind": "view",
            "occurred_at": "2026-01-01T10:00:00Z",
        },
        {
            "event_id": "e2",
            "customer": "c1",
            "product": "p1",
            "kind": "purchase",
            "value": 10,
            "occurred_at": "2026-01-02T10:00:00Z",
        },
        {"event_id": "e3", "customer": "c1", "kind": "nope", "occurred_at": "2026-01-02T10:00:00Z"},
    ]
    response = api_a.post("/api/v1/interactions/bulk/", rows, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2
    assert response.json()["rejected"] == [
        {
            "index": 2,
            "field": "kind",
            "reason": "must be one of view, click, add_to_cart, purchase, rating, review",
        }
    ]
    again = api_a.post("/api/v1/interactions/bulk/", rows[:2], format="json")
    assert again.json()["duplicates"] == 2
    listing = api_a.get("/api/v1/interactions/?customer=c1")
    assert [r["event_id"] for r in listing.json()["results"]] == ["e2", "e1"]
    detail = api_a.get("/api/v1/customers/c1/")
    assert detail.status_code == 200, detail.content
    assert detail.json()["summary"]["frequency"] == 1
