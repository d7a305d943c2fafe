"""More of what the command line and the pages show, over the HTTP API: the workflow definitions (`convenant
workflows [show NAME] [--diagram mermaid]`), the engine's clock (`convenant clock`), the themes' progress
(`convenant progress`), and a party of an agreement with its contacts (the party page; the secretariat replaces the
contacts, as there). Who may: as on the pages (engine/access.py)."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from convenant.app.web import api_models as m
from convenant.app.web.api_changes import Body
from convenant.app.web.api_common import Paging, may_change, paged, paging, principal, queries, service
from convenant.app.web.api_problems import responses
from convenant.engine.access import Principal, require_role
from convenant.engine.errors import NotAllowed, NotFound
from convenant.i18n import DEFAULT_LANG, localized

router = APIRouter(prefix="/api/v1")   # its routes join api.router's, in order


# -- workflow definitions ---------------------------------------------------------------------------------------
def _definitions() -> dict[str, Any]:
    import convenant.workflows as registry
    found: dict[str, Any] = registry.load_all()
    return found


@router.get("/workflows", summary="The workflow definitions (`workflows --json`)", tags=["workflows"],
            response_model=None, responses={200: {"model": list[m.WorkflowSummary]}, **responses(400, 401)})
def workflows(request: Request, pages: Paging = Depends(paging), who: Principal = Depends(principal)) -> Any:
    rows = [{"name": wf.name, "version": wf.version, "title": localized(wf.title, DEFAULT_LANG), "article": wf.article,
             "processes": list(wf.processes)} for wf in _definitions().values()]
    return paged(request, rows, pages)


@router.get("/workflows/{name}", summary="One workflow definition (`workflows show NAME --json`; with "
            "`diagram=mermaid` its state diagram, as `--diagram mermaid --json`)", tags=["workflows"],
            response_model=None, responses={200: {"model": m.Workflow}, **responses(400, 401, 404)})
def workflow(request: Request, name: str, diagram: Literal["mermaid"] | None = Query(None),
             who: Principal = Depends(principal)) -> dict[str, Any]:
    defs = _definitions()
    if name not in defs:
        raise NotFound(f"no workflow {name!r}; known: {', '.join(sorted(defs))}")
    wf = defs[name]
    if diagram:
        from convenant.engine.diagram import mermaid
        return {"name": name, "format": "mermaid", "diagram": mermaid(wf)}
    from convenant.engine.migrate import versions_of
    return {**wf.model_dump(mode="json", exclude={"source_file"}), "versions": versions_of(wf)}


# -- the clock ----------------------------------------------------------------------------------------------------
@router.get("/clock", summary="The engine's clock (`clock --json`): now, whether it is a simulation's, the time "
            "zone and today", tags=["clock"], response_model=None,
            responses={200: {"model": m.Clock}, **responses(400, 401)})
def clock(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    from convenant.engine.clock import iso_moment, local_date
    app = request.app.state.convenant
    simulated, now = service(request).clock_info()
    return {"now": iso_moment(now, app.settings.tz), "simulated": simulated,
            "timezone": app.settings.clock.timezone, "today": local_date(now, app.settings.tz).isoformat()}


# -- progress -----------------------------------------------------------------------------------------------------
@router.get("/progress", summary="Each agreement's themes: status, last report, escalation level and sign-ups "
            "(`progress --json`)", tags=["progress"], response_model=None,
            responses={200: {"model": list[m.Progress]}, **responses(400, 401)})
def progress(request: Request, pages: Paging = Depends(paging), who: Principal = Depends(principal)) -> Any:
    q = queries(request)
    seen = {r.id for r in q.roots(who)}
    return paged(request, (d for d in q.progress(None) if d["agreement"] in seen), pages)


# -- parties ------------------------------------------------------------------------------------------------------
def _party(request: Request, who: Principal, pid: str, party: str) -> dict[str, Any]:
    q = queries(request)
    q.require_visible(who, pid)
    info: dict[str, Any] = q.party(pid, party)
    if who.role == "party" and who.party != party and info["represented_by"] != who.party:
        raise NotAllowed("a party token reads its own contacts only (and those of the parties it represents)",
                         forbidden=True, process=pid)
    return info


@router.get("/processes/{process_id:path}/progress", summary="One agreement's themes and governments "
            "(`progress ID --json`)", tags=["progress"], response_model=None,
            responses={200: {"model": m.Progress}, **responses(400, 401, 403, 404)})
def agreement_progress(request: Request, process_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
    q = queries(request)
    proc = q.require_visible(who, process_id)
    docs = q.progress(q.root(proc).id)
    if not docs:
        raise NotFound(f"{process_id} has no themes", process=process_id)
    found: dict[str, Any] = docs[0]
    return found


@router.get("/processes/{process_id:path}/parties/{party}", summary="A party of the agreement with its contacts "
            "(who receives its mail, in which language); a party token reads its own", tags=["parties"],
            response_model=None, responses={200: {"model": m.PartyDetail}, **responses(400, 401, 403, 404)})
def party_of(request: Request, process_id: str, party: str, who: Principal = Depends(principal)) -> dict[str, Any]:
    return _party(request, who, process_id, party)


class ContactBody(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    language: Literal["nl", "en"] = "nl"


class ContactsBody(Body):
    contacts: list[ContactBody] = Field(max_length=50, description="the party's contacts, replacing those it has")
    language: Literal["nl", "en"] | None = Field(None, description="the party's language")
    reason: str | None = Field(None, max_length=2000, description="why (kept in the history)")


@router.put("/processes/{process_id:path}/parties/{party}/contacts", summary="Replace a party's contacts "
            "(secretariat): one `update_contacts` record in the history says what they were and became",
            tags=["parties"], response_model=None,
            responses={200: {"model": m.PartyDetail}, **responses(400, 401, 403, 404, 409)})
def party_contacts(request: Request, process_id: str, party: str, body: ContactsBody,
                   who: Principal = Depends(principal)) -> dict[str, Any]:
    _party(request, who, process_id, party)
    require_role(who, "secretariat", what="change a party's contacts")
    may_change(who, "change a party's contacts")
    service(request).update_contacts(process_id, party, [c.model_dump() for c in body.contacts], actor=who.name,
                                     role=who.role, language=body.language, reason=body.reason)
    return _party(request, who, process_id, party)
