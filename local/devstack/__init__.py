"""What only runs on a developer's machine: AWS in moto built from template.yaml, Lambda invokes
routed to the real handlers, and the Clever simulator. Never packaged into a Lambda."""
