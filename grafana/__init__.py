"""Grafana dashboards for the aiexpense service, generated from Python.

The dashboards are built with grafana-foundation-sdk (the 11.6 build, matching the
grafana/grafana:11.6 image in docker-compose.yml) and committed as JSON under
``grafana/dashboards/``, which Grafana loads through ``grafana/provisioning/``.

Regenerate after editing the Python:   python -m grafana.generate
Check the committed JSON is current:    python -m grafana.generate --check

``grafana.queries`` lists every query of the committed dashboards with Grafana's macros
substituted, so a test can run them against a real Prometheus.
"""
