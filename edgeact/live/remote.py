"""The outputs of ``edgeact live`` for boxes nobody sits at: ``--mqtt`` and ``--serve``, from the
options to started sinks.

:func:`check_remote_options` is one of the checks made before anything opens (URL, level, address,
token: no network). :func:`remote_sinks` then connects to the broker (refused credentials are an
error, an unreachable broker a note), binds the port (in use is an error) and starts the web
server, all before the loop starts; the telemetry behind ``/status.json`` and ``/metrics`` also
counts what MQTT dropped.
"""

from __future__ import annotations

from typing import Callable, Optional

from edgeact.errors import EdgeactError, keywords
from edgeact.live.stats import DEFAULT_SOURCE


def check_remote_options(opts) -> None:
    """``--mqtt``/``--mqtt-every``/``--mqtt-level`` and ``--serve``/``--serve-token`` make sense
    together and parse (``opts``: :class:`edgeact.live.options.LiveOptions`)."""
    from edgeact.live.mqtt_url import parse_level, parse_mqtt_url
    from edgeact.live.serve_address import check_serve

    if opts.mqtt is None:
        if opts.mqtt_every:
            raise EdgeactError("needs {mqtt} (the broker to publish to)", param="mqtt_every", mention="mqtt")
        if parse_level(opts.mqtt_level) is not None:
            raise EdgeactError(f"{opts.mqtt_level}: needs {{mqtt}} (the broker to publish to)", param="mqtt_level",
                               mention="mqtt")
    else:
        with keywords(url="mqtt", text="mqtt_level"):
            parse_mqtt_url(opts.mqtt)
            parse_level(opts.mqtt_level)
    # a token without --serve guards and exposes nothing (it may come from EDGEACT_SERVE_TOKEN)
    if opts.serve is not None:
        with keywords(address="serve", token="serve_token"):
            check_serve(opts.serve, opts.serve_token)


def remote_sinks(opts, runtime, *, end_after: float, title: str, sources: tuple[str, ...] = (DEFAULT_SOURCE,),
                 on_note: Optional[Callable[[str], None]] = None) -> list:
    """The started MQTT and remote-view sinks ``opts`` asks for (none without ``--mqtt`` or
    ``--serve``). ``end_after``: source seconds without a decision after which a person's MQTT
    event ends (the loop forgets a person after two windows: pass that); ``sources``: the run's
    stream ids (each gets its state topic and its section of the page from the start)."""
    from edgeact.live.mqtt import MqttSink
    from edgeact.live.mqtt_publish import MqttPublisher
    from edgeact.live.mqtt_url import check_level, parse_level, parse_mqtt_url
    from edgeact.live.telemetry import model_identity

    if opts.mqtt is None and opts.serve is None:
        return []
    with keywords(text="mqtt_level", level="mqtt_level"):
        level = parse_level(opts.mqtt_level)
        check_level(level, len((runtime.hierarchy or {}).get("assignments") or []))
    identity = model_identity(runtime)
    sinks: list = []
    publisher = None
    try:
        if opts.mqtt is not None:
            with keywords(url="mqtt"):
                target = parse_mqtt_url(opts.mqtt)
            with keywords(target="mqtt"):
                publisher = MqttPublisher(target, on_note=on_note)
                publisher.start()
            sinks.append(MqttSink(publisher, model=identity, level=level, every=opts.mqtt_every,
                                  end_after=end_after, sources=sources))
        if opts.serve is not None:
            from edgeact.live.serve import ServeSink
            from edgeact.live.serve_address import bind_listener, check_serve
            from edgeact.live.telemetry import Telemetry

            with keywords(address="serve", token="serve_token"):
                host, port = check_serve(opts.serve, opts.serve_token)
            with keywords(host="serve", port="serve"):
                listener = bind_listener(host, port)
            telemetry = Telemetry(identity, sources=sources,
                                  mqtt=publisher.counters if publisher is not None else None)
            sinks.append(ServeSink(listener, telemetry, token=opts.serve_token, title=title, on_note=on_note))
    except BaseException:
        for s in sinks:
            s.close(None)
        if publisher is not None and not sinks:
            publisher.close()
        raise
    return sinks
