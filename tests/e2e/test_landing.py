import pytest

from tests.e2e.conftest import fits, shot


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_landing_page_renders_without_outside_assets(request, width, live_server):
    page = request.getfixturevalue("page" if width == "desktop" else "phone_page")
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.goto("/")
    assert page.locator("h1").first.is_visible()
    assert page.get_by_role("link", name="Create a free account").is_visible()
    shot(page, "landing")
    assert outside == []
    assert fits(page)


def test_the_theme_toggle_persists_across_pages(page):
    page.goto("/")
    html = page.locator("html")
    assert html.get_attribute("data-theme") == "system"
    page.click("[data-theme-toggle]")
    assert html.get_attribute("data-theme") == "light"
    page.click("[data-theme-toggle]")
    assert html.get_attribute("data-theme") == "dark"
    page.reload()
    assert page.locator("html").get_attribute("data-theme") == "dark"
    shot(page, "landing-dark")
