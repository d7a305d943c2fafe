"""The words of the pages in Dutch (default) and English. Engine texts that come from a definition carry both
languages themselves ({"nl": ..., "en": ...}); this table holds the rest."""
from __future__ import annotations

from typing import Any

LANGS = ("nl", "en")

WORDS: dict[str, tuple[str, str]] = {
    "app": ("Convenanten", "Agreements"),
    "overview": ("Overzicht", "Overview"),
    "agenda": ("Agenda", "Agenda"),
    "history": ("Historie", "History"),
    "sign_in": ("Inloggen", "Sign in"),
    "sign_out": ("Uitloggen", "Sign out"),
    "token": ("Toegangssleutel", "Access token"),
    "token_help": ("Een sleutel maakt de beheerder aan met: convenant tokens create --name NAAM --role ROL "
                   "[--party PARTIJ]", "An administrator creates a token with: convenant tokens create --name "
                   "NAME --role ROLE [--party PARTY]"),
    "bad_token": ("Deze sleutel is onbekend of ingetrokken.", "This token is unknown or revoked."),
    "signed_in_as": ("Ingelogd als", "Signed in as"),
    "role.secretariat": ("secretariaat", "secretariat"),
    "role.party": ("partij", "party"),
    "role.auditor": ("auditor (alleen lezen)", "auditor (read only)"),
    "clock": ("Klok", "Clock"),
    "simulation": ("simulatie", "simulation"),
    "agreement": ("Convenant", "Agreement"),
    "state": ("Status", "State"),
    "in_force_since": ("In werking sinds", "In force since"),
    "ends_on": ("Eindigt op", "Ends on"),
    "next_deadline": ("Eerstvolgende termijn", "Next deadline"),
    "open_decisions": ("Open besluiten", "Open decisions"),
    "missed": ("Verstreken termijnen", "Missed deadlines"),
    "none": ("geen", "none"),
    "no_agreements": ("Er zijn nog geen convenanten.", "There are no agreements yet."),
    "diagram": ("Toestandsdiagram", "State diagram"),
    "diagram_alt": ("Toestandsdiagram met de huidige status gemarkeerd", "State diagram with the current state "
                    "marked"),
    "parties": ("Partijen", "Parties"),
    "party": ("Partij", "Party"),
    "represented_by": ("Vertegenwoordigd door", "Represented by"),
    "signed_on": ("Ondertekend op", "Signed on"),
    "withdrawn_on": ("Teruggetreden op", "Withdrawn on"),
    "deadlines": ("Termijnen", "Deadlines"),
    "kind": ("Soort", "Kind"),
    "due": ("Uiterlijk", "Due"),
    "status": ("Status", "Status"),
    "article": ("Artikel", "Article"),
    "next_reminder": ("Volgende herinnering", "Next reminder"),
    "met_on": ("Voldaan op", "Met on"),
    "children": ("Onderliggende processen", "Child processes"),
    "type": ("Soort", "Type"),
    "themes": ("Thema's", "Themes"),
    "last_report": ("Laatste rapportage", "Last report"),
    "escalation_level": ("Escalatieniveau", "Escalation level"),
    "sign_ups": ("Intekeningen", "Sign-ups"),
    "actions": ("Handelingen", "Actions"),
    "no_actions": ("U kunt in deze status niets vastleggen.", "There is nothing you can record in this state."),
    "auditor_reads": ("Als auditor leest u alles en wijzigt u niets.", "As an auditor you read everything and "
                      "change nothing."),
    "on": ("Datum van de handeling", "Date of the act"),
    "ref": ("Kenmerk (brief, besluit, Staatscourant)", "Reference (letter, decision, Staatscourant)"),
    "reason": ("Toelichting", "Reason"),
    "required": ("verplicht", "required"),
    "submit": ("Vastleggen", "Record"),
    "choose": ("— kies —", "— choose —"),
    "done": ("Vastgelegd", "Recorded"),
    "record": ("record", "record"),
    "created": ("Aangemaakt", "Created"),
    "error.bad_input": ("Ongeldige invoer", "Bad input"),
    "error.not_allowed": ("Niet toegestaan", "Not allowed"),
    "error.not_found": ("Niet gevonden", "Not found"),
    "error.conflict": ("Intussen gewijzigd", "Changed meanwhile"),
    "error.error": ("Fout", "Error"),
    "conflict_help": ("Iemand anders heeft dit proces intussen gewijzigd; bekijk de nieuwe stand en probeer het "
                      "opnieuw.", "Someone else changed this process meanwhile; look at its new state and try "
                      "again."),
    "csrf": ("Het formulier is verlopen; laad de pagina opnieuw.", "The form has expired; reload the page."),
    "decision": ("Besluit", "Decision"),
    "decisions": ("Besluiten", "Decisions"),
    "view_decision": ("Bekijk besluit", "View decision"),
    "opened_on": ("Geopend op", "Opened on"),
    "outcome": ("Uitkomst", "Outcome"),
    "open": ("open", "open"),
    "answer": ("Antwoord", "Answer"),
    "answered_on": ("Datum", "Date"),
    "counts_for": ("Telt voor", "Counts for"),
    "not_answered": ("Nog niet geantwoord", "Not answered yet"),
    "everyone_answered": ("Iedereen heeft geantwoord.", "Everyone has answered."),
    "no_decisions": ("Dit proces heeft geen besluiten.", "This process has no decisions."),
    "filter": ("Filteren", "Filter"),
    "process": ("Proces", "Process"),
    "all": ("alle", "all"),
    "since": ("Vanaf", "From"),
    "until": ("Tot en met", "Until"),
    "chain_intact": ("Keten intact", "Chain intact"),
    "chain_broken": ("Keten verbroken", "Chain broken"),
    "records": ("records", "records"),
    "export": ("Exporteren", "Export"),
    "seq": ("Nr.", "No."),
    "effective": ("Juridische datum", "Legal date"),
    "recorded_at": ("Ingevoerd", "Entered"),
    "trigger": ("Handeling", "Act"),
    "transition": ("Overgang", "Transition"),
    "actor": ("Door", "By"),
    "role": ("Rol", "Role"),
    "no_records": ("Geen records gevonden.", "No records found."),
    "shown_first": ("Alleen de eerste {n} records worden getoond; exporteer voor alles.",
                    "Only the first {n} records are shown; export for all."),
    "within_days": ("Binnen (dagen)", "Within (days)"),
    "days_left": ("Dagen", "Days"),
    "no_deadlines": ("Geen openstaande termijnen.", "No open deadlines."),
    "feeds": ("Agenda-abonnementen (.ics)", "Calendar subscriptions (.ics)"),
    "feeds_help": ("Neem deze adressen op in uw agendaprogramma. Ze bevatten uw toegangssleutel: deel ze niet.",
                   "Subscribe to these addresses in your calendar program. They contain your access token: do "
                   "not share them."),
    "back": ("Terug", "Back"),
    "version": ("versie", "version"),
    "published": ("Gepubliceerd", "Published"),
    "forbidden_page": ("U heeft geen toegang tot deze pagina.", "You have no access to this page."),
    "page_not_found": ("Deze pagina bestaat niet.", "This page does not exist."),
    "language": ("English", "Nederlands"),
    "status.open": ("open", "open"),
    "status.met": ("voldaan", "met"),
    "status.missed": ("verstreken", "missed"),
    "status.cancelled": ("vervallen", "cancelled"),
    "bad_date": ("geen datum (zoals 2025-03-21)", "not a date (like 2025-03-21)"),
}

PARAM_WORDS: dict[str, tuple[str, str]] = {
    "extend": ("Verlengen?", "Extend?"), "new_end": ("Nieuwe einddatum", "New end date"),
    "change": ("Voorgestelde tekst", "Proposed wording"), "subject": ("Onderwerp", "Subject"),
    "government": ("Overheid", "Government"), "layer": ("Bestuurslaag", "Layer"), "theme": ("Thema", "Theme"),
    "commitments": ("Afspraken (nummers, zoals 1,3)", "Commitments (numbers, like 1,3)"),
    "status": ("Voortgang", "Progress"), "text": ("Toelichting bij de voortgang", "Progress note"),
    "continue": ("Voortzetten?", "Continue?"),
}

OPTION_WORDS: dict[str, tuple[str, str]] = {
    "yes": ("ja", "yes"), "no": ("nee", "no"), "on_track": ("op koers", "on track"), "stalled": ("stagneert",
                                                                                                "stalled"),
    "province": ("provincie", "province"), "water_board": ("waterschap", "water board"),
    "municipality": ("gemeente", "municipality"), "consent": ("instemming", "consent"),
    "refuse": ("weigering", "refusal"), "adopted": ("aangenomen", "adopted"), "rejected": ("afgewezen", "rejected"),
    "extended": ("verlengd", "extended"), "not_extended": ("niet verlengd", "not extended"),
    "continued": ("voortgezet", "continued"), "ended": ("beëindigd", "ended"),
}


def word(key: str, lang: str, **fmt: Any) -> str:
    pair = WORDS.get(key)
    text = key if pair is None else pair[0 if lang == "nl" else 1]
    return text.format(**fmt) if fmt else text


def text(value: Any, lang: str, fallback: str = "") -> str:
    """A definition's {"nl": ..., "en": ...} text in the page's language."""
    if isinstance(value, dict):
        return value.get(lang) or value.get("nl") or value.get("en") or fallback
    return str(value) if value else fallback


def param_label(name: str, spec_label: dict, lang: str) -> str:
    if spec_label:
        return text(spec_label, lang, name)
    pair = PARAM_WORDS.get(name)
    return pair[0 if lang == "nl" else 1] if pair else name


def option_label(value: str, lang: str) -> str:
    pair = OPTION_WORDS.get(value)
    return pair[0 if lang == "nl" else 1] if pair else value
