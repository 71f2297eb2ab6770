"""Every page of web/, read as a file and in the browser (issue 15, item 4): lang="fr",
no inline script or style, no resource from another host, a label on every input, the
required ones marked *, no image without alt, one h1 and no skipped heading level,
readable at 360 px -- logged out, logged in as a professional, and as a BAL ORG after
"Changer de compte". A page added to web/ is checked without touching this file."""
import re
from html.parser import HTMLParser

import pytest

from mmstack import TOP
from test_web_login import A11Y
from webstack import web  # noqa: F401 (the fixture)

WEB = TOP / "web"
PAGES = sorted(p for p in WEB.rglob("*.html"))


def url_of(page):
    rel = page.relative_to(WEB).with_suffix("").as_posix()
    return "/" if rel == "index" else "/" + rel


class Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.bad, self.lang = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "script" and not a.get("src"):
            self.bad.append("inline script")
        if tag == "script" and a.get("type") != "module":
            self.bad.append(f"script {a.get('src')} is not a module")
        if tag == "style":
            self.bad.append("inline style element")
        for k, v in attrs:
            if k == "style" or k.startswith("on"):
                self.bad.append(f"<{tag} {k}=...>")
            if k in ("src", "href", "action") and v and re.match(r"(?i)\s*(\w+:|//)", v) \
                    and not v.startswith("mailto:"):
                self.bad.append(f"<{tag} {k}={v}>: another host or scheme")
            if k in ("src", "href") and v and v.startswith("/assets/") and not (WEB / v[1:]).is_file():
                self.bad.append(f"<{tag} {k}={v}>: no such asset")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(WEB).as_posix())
def test_page_file_is_self_contained(page):
    s = Scan()
    s.feed(page.read_text(encoding="utf-8"))
    assert s.lang == "fr" and s.bad == [], (page, s.lang, s.bad)


def test_assets_fetch_nothing_from_elsewhere():
    """No CDN, no web font, no remote image: the scripts and the style sheet name only
    their own origin."""
    for f in sorted(WEB.rglob("*")):
        if f.suffix in (".js", ".css"):
            text = f.read_text(encoding="utf-8")
            code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", text, flags=re.S | re.M)  # comments may cite sites
            assert not re.search(r"(?i)\b(https?:)?//[a-z0-9-]+(\.[a-z0-9-]+)+", code), f
            assert "@import" not in text and "@font-face" not in text, f


TOO_WIDE = """
    const w = document.documentElement.clientWidth, out = [];
    for (const e of document.querySelectorAll('main *, header *'))
      if (e.scrollWidth > w || e.getBoundingClientRect().right > w + 1)
        out.push(e.tagName + (e.id ? '#' + e.id : '') + ' ' + (e.textContent || '').trim().slice(0, 40));
    return out.slice(0, 5);
"""


def check(web, path):
    web.go(path)
    web.find("main")
    bad = web.driver.execute_script(A11Y)
    if any(b.startswith("wider") for b in bad):
        bad.append("too wide: " + ", ".join(web.driver.execute_script(TOO_WIDE)))
    return [f"{path} (at {web.driver.current_url.replace(web.url, '')}): {b}" for b in bad]


def test_every_page_in_the_browser_at_phone_width(web):
    web.driver.set_window_size(360, 800)
    bad = []
    try:
        for p in PAGES:
            bad += check(web, url_of(p))
        login, mail = web.account("PER")
        web.login(mail)
        for p in PAGES:
            bad += check(web, url_of(p))
        org, _ = web.org(login)
        web.go("/")
        web.click("mm-switch")
        web.driver.find_element("css selector", f'#mm-switch-list button[data-account="{org}"]').click()
        web.visible("mm-acting")
        for p in PAGES:
            bad += check(web, url_of(p))
    finally:
        web.driver.set_window_size(1200, 900)
    assert bad == [], "\n".join(map(str, bad))
