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
