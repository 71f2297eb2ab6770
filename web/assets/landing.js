// A mailed link's landing page (confirmation, login e-mail change, password reset): opening the
// link changes nothing; submitting the page's form spends the link's token, once.
// The page's elements are named after one prefix: <p>-form, <p>-submit, <p>-done, <p>-status, <p>-login.
import { call, formError, showError, param } from "/assets/app.js";

// row: the request the form sends ({token} plus fields()); incomplete, gone, failed: the messages
// for a link cut short, a token unknown/expired/spent, another refusal; check(form): false stops
// the submit (the page has said why); done(reply): the sentence shown once it worked;
// after(): runs once the reply is in, whatever it says (e.g. to clear password fields).
export function landing({ prefix, row, incomplete, gone, failed, fields = () => ({}),
                          check = () => true, after = () => {}, done }) {
  const form = document.getElementById(`${prefix}-form`);
  const submit = document.getElementById(`${prefix}-submit`);
  const token = param("jeton");
  if (!token) {
    formError(form, incomplete);
    submit.disabled = true;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!token || !check(form)) return;
    submit.disabled = true;
    const r = await call(row, { token, ...fields() });
    after();
    if (!r.ok) {
      submit.disabled = false;
      if (!r.data.field && [400, 404, 410].includes(r.status)) return formError(form, gone);
      return showError(form, r.data, failed);
    }
    form.hidden = true;
    document.getElementById(`${prefix}-done`).hidden = false;
    document.getElementById(`${prefix}-status`).textContent = done(r.data);
    document.getElementById(`${prefix}-login`).focus();
  });
}
