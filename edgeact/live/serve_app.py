"""The remote view's web application: the Starlette routes (``/``, ``/video/<source>.mjpg``,
``/status.json``, ``/metrics``), the token check, and the page rendered on the server (see
:mod:`edgeact.live.serve`).
"""

from __future__ import annotations

import hmac
import html
from typing import Optional

from edgeact.live.serve_stream import StreamHub
from edgeact.live.telemetry import Telemetry

COOKIE = "edgeact_token"
BOUNDARY = "edgeactframe"


def _authorized(request, token: Optional[str]) -> tuple[bool, bool]:
    """``(allowed, set_cookie)`` for a request."""
    if not token:
        return True, False
    want = token.encode()
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and hmac.compare_digest(header[7:].strip().encode(), want):
        return True, False
    cookie = request.cookies.get(COOKIE)
    if cookie is not None and hmac.compare_digest(cookie.encode(), want):
        return True, False
    query = request.query_params.get("token")
    if query is not None and hmac.compare_digest(query.encode(), want):
        return True, True
    return False, False


def build_app(hub: StreamHub, telemetry: Telemetry, *, token: Optional[str] = None, title: str = "edgeact live"):
    """The Starlette application of the remote view."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    def guard(handler):
        async def wrapped(request):
            ok, cookie = _authorized(request, token)
            if not ok:
                return PlainTextResponse("a bearer token is required (Authorization: Bearer TOKEN, or ?token=)\n",
                                         status_code=401, headers={"WWW-Authenticate": 'Bearer realm="edgeact"'})
            response = await handler(request)
            if cookie:
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        return wrapped

    async def page(request):
        return HTMLResponse(render_page(telemetry.status(), title=title), headers={"Cache-Control": "no-store"})

    async def status(request):
        return JSONResponse(telemetry.status(), headers={"Cache-Control": "no-store"})

    async def metrics(request):
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(telemetry.metrics(), media_type=CONTENT_TYPE_LATEST)

    async def video(request):
        name = request.path_params["name"]
        if not name.endswith(".mjpg") or name[:-5] not in telemetry.sources:
            return PlainTextResponse(f"no stream {name}; streams: "
                                     f"{', '.join(s + '.mjpg' for s in telemetry.sources)}\n", status_code=404)
        src = name[:-5]

        async def parts():
            with hub.watching(src):
                after = hub.generation(src)
                while True:
                    item = await hub.next_jpeg(src, after)
                    if item is None:
                        return
                    after, data = item
                    yield (b"--" + BOUNDARY.encode() + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                           + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    routes = [Route("/", guard(page)), Route("/status.json", guard(status)), Route("/metrics", guard(metrics)),
              Route("/video/{name}", guard(video))]
    return Starlette(routes=routes)


def _rates_text(s: dict) -> str:
    r, lat, d = s["rates"], s["latency_ms"], s["dropped"]
    latency = "-" if lat["p50"] is None else f"p50 {lat['p50']:.0f} / p95 {lat['p95']:.0f} ms"
    return (f"input {r['input_fps']:.1f} fps · pose {r['pose_fps']:.1f} fps · decisions {r['decisions_per_s']:.1f}/s"
            f" · latency {latency} · dropped {d['frames']} frames, {d['windows']} windows")


def _track_rows(s: dict) -> str:
    if not s["tracks"]:
        return '<tr><td colspan="4" class="dim">no person</td></tr>'
    rows = []
    for t in s["tracks"]:
        action = f"uncertain ({t['action']}?)" if t["uncertain"] else t["action"]
        levels = " › ".join(lv for lv in t["levels"] if lv)
        cls = "action uncertain" if t["uncertain"] else "action"
        rows.append(f"<tr><td>#{t['track']}</td><td class=\"{cls}\">{html.escape(action)}</td>"
                    f"<td>{t['p']:.2f}</td><td class=\"dim\">{html.escape(levels)}</td></tr>")
    return "".join(rows)


def render_page(status: dict, *, title: str = "edgeact live") -> str:
    """The page at ``/``, with the state as of now (the script refreshes it)."""
    model = status.get("model") or {}
    about = " · ".join(html.escape(str(model[k])) for k in ("name", "arch", "backend", "precision") if model.get(k))
    sections = []
    for s in status["sources"]:
        src = html.escape(s["source"])
        sections.append(
            f'<section data-source="{src}"><h2>{src}</h2>'
            f'<img class="stream" src="video/{src}.mjpg" alt="{src} overlay">'
            f'<p class="rates">{html.escape(_rates_text(s))}</p>'
            '<table><thead><tr><th>person</th><th>action</th><th>p</th><th>superclasses</th></tr></thead>'
            f'<tbody class="tracks">{_track_rows(s)}</tbody></table></section>')
    return _PAGE.replace("{title}", html.escape(title)).replace("{about}", about).replace(
        "{sections}", "".join(sections))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:1rem;background:#111;color:#eee}
h1{font-size:1.2rem;margin:0 0 .2rem}h2{font-size:1rem;margin:.8rem 0 .3rem}
.dim,.about{color:#999}.rates{font-size:.85rem;color:#bbb;margin:.3rem 0}
img.stream{max-width:100%;background:#000;min-width:320px;min-height:180px;display:block}
table{border-collapse:collapse}td,th{padding:.15rem .6rem;text-align:left;border-bottom:1px solid #333}
td.action{font-weight:600;color:#7f7}td.action.uncertain{color:#fd5;font-weight:400}
</style></head><body>
<h1>{title}</h1><div class="about">{about}</div>
<main>{sections}</main>
<script>
function esc(s){const d=document.createElement('div');d.textContent=s;return d.innerHTML}
function rows(s){
  if(!s.tracks.length) return '<tr><td colspan="4" class="dim">no person</td></tr>';
  return s.tracks.map(t=>'<tr><td>#'+t.track+'</td><td class="action'+(t.uncertain?' uncertain':'')+'">'+
    esc(t.uncertain?'uncertain ('+t.action+'?)':t.action)+'</td><td>'+t.p.toFixed(2)+
    '</td><td class="dim">'+esc(t.levels.filter(x=>x).join(' \\u203a '))+'</td></tr>').join('');
}
function rates(s){
  const r=s.rates,l=s.latency_ms,d=s.dropped;
  const lat=l.p50===null?'-':'p50 '+l.p50.toFixed(0)+' / p95 '+l.p95.toFixed(0)+' ms';
  const dot=' \\u00b7 ';
  return 'input '+r.input_fps.toFixed(1)+' fps'+dot+'pose '+r.pose_fps.toFixed(1)+' fps'+dot+'decisions '+
    r.decisions_per_s.toFixed(1)+'/s'+dot+'latency '+lat+dot+'dropped '+d.frames+' frames, '+d.windows+' windows';
}
async function refresh(){
  try{
    const st=await (await fetch('status.json',{cache:'no-store'})).json();
    for(const s of st.sources){
      const sec=document.querySelector('section[data-source="'+CSS.escape(s.source)+'"]');
      if(!sec) continue;
      sec.querySelector('.tracks').innerHTML=rows(s);
      sec.querySelector('.rates').textContent=rates(s);
    }
  }catch(e){}
}
setInterval(refresh,1000);
</script></body></html>
"""
