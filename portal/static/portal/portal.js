// Small progressive enhancements; every page also works without JavaScript.
(function () {
  "use strict";

  function controlValue(form, name) {
    const el = form.elements.namedItem(name);
    if (!el) return "";
    if (el.type === "checkbox") return el.checked ? "checked" : "unchecked";
    return el.value;
  }

  // <div data-show-if="field=value1|value2"> shows only while the field has one of the values.
  function applyShowIf(root) {
    root.querySelectorAll("[data-show-if]").forEach(function (el) {
      const form = el.closest("form");
      if (!form) return;
      const [name, values] = el.dataset.showIf.split("=");
      el.hidden = !values.split("|").includes(controlValue(form, name));
    });
  }

  // <div data-scroll-end> (chat panes) shows its latest line; no inline script under the CSP.
  function scrollToEnd(root) {
    const scope = root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-scroll-end]")) scope.scrollTop = 1e9;
    scope.querySelectorAll("[data-scroll-end]").forEach(function (el) { el.scrollTop = 1e9; });
  }

  function init(root) {
    applyShowIf(root.ownerDocument ? root.ownerDocument : document);
    scrollToEnd(root);
  }

  document.addEventListener("change", function (event) {
    if (event.target.form) applyShowIf(event.target.form);
  });

  document.addEventListener("click", function (event) {
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const source = document.querySelector(copy.dataset.copy);
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          copy.textContent = "✓";
        });
      }
      return;
    }
    // Formset rows: clone the empty form, numbering it from TOTAL_FORMS.
    const add = event.target.closest("[data-add-form]");
    if (add) {
      const prefix = add.dataset.addForm;
      const total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
      const template = document.getElementById(prefix + "-empty");
      const rows = document.getElementById(prefix + "-rows");
      const html = template.innerHTML.replace(/__prefix__/g, total.value);
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(Number(total.value) + 1);
      const select = rows.lastElementChild.querySelector("select");
      if (select) select.focus();
      return;
    }
    // <button data-remove-row>: removes its table row (was hx-on, which needs eval under CSP).
    const removeRow = event.target.closest("[data-remove-row]");
    if (removeRow) {
      removeRow.closest("tr").remove();
      return;
    }
    // Removing a member blanks its agent: the server ignores rows without one.
    const remove = event.target.closest("[data-remove-member]");
    if (remove) {
      const row = remove.closest("tr");
      row.querySelectorAll("select").forEach(function (s) { s.value = ""; });
      row.hidden = true;
    }
  });

  if (window.htmx) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  }
})();
