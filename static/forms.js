// Refused forms, shown in place (portal/runs/pages.py `refuse`).
// On submit: tell the server which fields it may keep (never password inputs, hidden ones,
// files, or anything marked data-secret) and which form of the page this is.
// After a refusal: the page carries <script type="application/json" id="form-refusal">;
// find that form, put back the values kept, put each error next to its field, open the
// form's section and scroll it into view. Errors of fields the form does not have go in a
// box at the top of the form.
(function () {
  document.documentElement.classList.add("js");
  var KEEP = "_keep", FORM = "_form";

  function actionPath(form) {
    try { return new URL(form.getAttribute("action") || "", location.href).pathname; }
    catch (e) { return ""; }
  }

  function sameAction(path) {
    return Array.prototype.filter.call(document.forms, function (f) {
      return (f.method || "").toLowerCase() === "post" && actionPath(f) === path;
    });
  }

  function secret(el) {
    return el.type === "password" || el.type === "hidden" || el.type === "file" ||
      el.closest("[data-secret]") !== null;
  }

  function hidden(form, name, value) {
    var input = form.querySelector("input[type=hidden][name='" + name + "']");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "").toLowerCase() !== "post") return;
    var names = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || secret(el) || el.name === KEEP || el.name === FORM) return;
      if (names.indexOf(el.name) < 0) names.push(el.name);
    });
    hidden(form, KEEP, names.join(","));
    hidden(form, FORM, String(sameAction(actionPath(form)).indexOf(form)));
  }, true);

  function fieldsNamed(form, name) {
    return Array.prototype.filter.call(form.elements, function (el) { return el.name === name; });
  }

  function fill(form, values) {
    Object.keys(values || {}).forEach(function (name) {
      var kept = values[name] || [];
      fieldsNamed(form, name).forEach(function (el) {
        if (secret(el)) return;
        if (el.type === "checkbox" || el.type === "radio") {
          el.checked = kept.indexOf(el.value) >= 0;
        } else if (el.tagName === "SELECT") {
          Array.prototype.forEach.call(el.options, function (o) {
            o.selected = kept.indexOf(o.value) >= 0;
          });
        } else if (kept.length && el.type !== "submit" && el.type !== "button") {
          el.value = kept[0] !== undefined ? kept[0] : "";
        }
      });
    });
  }

  function errorElement(id, text) {
    var el = document.createElement("span");
    el.className = "field-error refusal-error";
    el.id = id;
    el.setAttribute("role", "alert");
    el.textContent = text;
    return el;
  }

  function show(form, fields, message) {
    var unplaced = [];
    var first = null;
    Object.keys(fields || {}).forEach(function (name, i) {
      var text = (fields[name] || []).join(" ");
      var els = fieldsNamed(form, name);
      if (!els.length) { unplaced.push(name + ": " + text); return; }
      var el = els[els.length - 1];
      var id = "refusal-" + i;
      var error = errorElement(id, text);
      if (!first) first = error;
      var anchor = el.closest("[data-field-error-after]") || el;
      anchor.insertAdjacentElement("afterend", error);
      els.forEach(function (f) {
        f.setAttribute("aria-invalid", "true");
        f.setAttribute("aria-describedby",
          ((f.getAttribute("aria-describedby") || "") + " " + id).trim());
      });
      var row = el.closest("[data-refusal-reveal]");
      if (row) row.classList.add("refusal-shown");
    });
    if (unplaced.length || !first) {
      var box = document.createElement("div");
      box.className = "form-refusal";
      box.setAttribute("role", "alert");
      box.textContent = unplaced.length ? unplaced.join("; ") : message;
      form.insertBefore(box, form.firstChild);
      first = first || box;
    }
    return first;
  }

  function open(el) {
    for (var d = el.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) {
      d.open = true;
    }
  }

  function apply() {
    var blob = document.getElementById("form-refusal");
    if (!blob) return;
    var data;
    try { data = JSON.parse(blob.textContent); } catch (e) { return; }
    var forms = sameAction(data.action);
    if (!forms.length) return;
    var index = parseInt(data.form, 10);
    var form = forms[index >= 0 && index < forms.length ? index : 0];
    fill(form, data.values);
    var first = show(form, data.fields, data.message);
    open(first);
    form.classList.add("refused");
    first.scrollIntoView({ block: "center" });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", apply);
  else apply();
})();
