from marketplace.markdown import render_markdown


def test_script_and_event_handlers_are_stripped():
    html = str(
        render_markdown(
            "Hello <script>alert(1)</script> <img src=x onerror=alert(2)> "
            '<a href="https://ok.example" onclick="steal()">ok</a> [bad](javascript:alert(3)) '
            "<iframe src=https://evil.example></iframe>"
        )
    )
    for forbidden in ("<script", "alert(1)", "onerror", "onclick", "javascript:", "<iframe", "<img"):
        assert forbidden not in html
    assert 'href="https://ok.example"' in html


def test_links_are_nofollow_and_markdown_renders():
    html = str(render_markdown("## Setup\n\n* **one**\n* [docs](https://docs.example)"))
    assert "<h2>Setup</h2>" in html
    assert "<strong>one</strong>" in html
    assert 'rel="nofollow noopener"' in html


def test_obfuscated_script_urls_and_active_content_are_removed():
    html = str(
        render_markdown(
            '<a href="JaVaScRiPt:alert(1)">a</a> <a href="&#106;avascript:alert(2)">b</a> '
            "[c](data:text/html;base64,PHNjcmlwdD5hbGVydCgzKTwvc2NyaXB0Pg==) "
            '<svg onload="alert(4)"><circle r="1"/></svg> <style>body{display:none}</style> '
            '<form action="https://evil.example"><input name="password"></form> '
            '<p style="background:url(javascript:alert(5))">styled</p>'
        )
    )
    for forbidden in ("javascript", "data:text", "<svg", "onload", "<style", "<form", "<input", "style=", "alert"):
        assert forbidden not in html.lower(), forbidden
    assert "styled" in html


def test_raw_html_links_also_get_nofollow_and_lose_target():
    html = str(render_markdown('<a href="https://partner.example" target="_blank" rel="dofollow">site</a>'))
    assert 'rel="nofollow noopener"' in html
    assert "target=" not in html and "dofollow" not in html
