"""The form of a trigger as the pages show it: exactly the fields it takes (the party, when the secretariat records
an act for one; its parameters with their labels and options in the page's language; the legal date, the reference
and a reason), for what Service.allowed_triggers says this principal may fire now."""
from __future__ import annotations

from typing import Any

from convenant.app.web.i18n import option_label, param_label
from convenant.app.web.present import Reader
from convenant.engine.access import Principal, root_of
from convenant.i18n import gettext, localized


def trigger_forms(app, who: Principal, doc: dict[str, Any], lang: str, *, only: set[str] | None = None,
                  parties: list[str] | None = None) -> list[dict[str, Any]]:
    """One form per trigger this principal may fire now, with exactly the fields it takes (`only`: these
    triggers; `parties`: the party choice limited to these, e.g. those that have not answered)."""
    if who.reads_only:
        return []
    wf = app.service.workflow(doc["workflow"])
    spec = wf.process(doc["type"])
    root = app.queries.process(root_of(doc["id"]))
    today = app.service.today()
    reader = Reader(app, lang)
    forms = []
    for name in doc["allowed_triggers"]:
        if only is not None and name not in only:
            continue
        tspec = spec.trigger_map[name]
        fields: list[dict[str, Any]] = []
        if tspec.party != "none" and who.role == "secretariat":
            options = []
            for p in doc["parties"]:
                if p["represented_by"] or (p["withdrawn_on"] and p["withdrawn_on"] <= today.isoformat()):
                    continue
                if tspec.parties is not None and p["id"] not in tspec.parties:
                    continue
                if name == "sign" and p["signed_on"]:
                    continue
                if parties is not None and p["id"] not in parties:
                    continue
                options.append((p["id"], p["name"]))
            fields.append({"name": "party", "label": gettext("Party", lang), "kind": "option", "options": options,
                           "required": tspec.party == "required"})
        for key, pspec in tspec.params.items():
            if pspec.type == "document":   # a file on the command line; the pages record the text instead
                continue
            opts = app.service.options(pspec, root) if pspec.type == "option" else None
            labels = [(o, reader.theme_title(root.id, o) if key == "theme" else option_label(o, lang))
                      for o in opts] if opts is not None else None
            fields.append({"name": f"param.{key}", "key": key, "label": param_label(key, pspec.label, lang),
                           "kind": pspec.type, "required": pspec.required, "options": labels,
                           "hint": gettext("Numbers separated by commas, like 1,3", lang) if pspec.type == "list"
                           else None})
        fields.append({"name": "on", "label": gettext("Date of the act", lang), "kind": "date", "required": False,
                       "default": today.isoformat()})
        fields.append({"name": "ref", "label": gettext("Reference (letter, decision, Staatscourant)", lang),
                       "kind": "text", "required": tspec.ref_required})
        fields.append({"name": "reason", "label": gettext("Reason or explanation", lang), "kind": "textarea",
                       "required": False})
        forms.append({"trigger": name, "process": doc["id"], "version": doc["version"],
                      "title": localized(tspec.title, lang, name), "article": tspec.article, "fields": fields})
    return forms
