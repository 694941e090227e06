"""What every layer shares and no broker defines: resources, kinds' rules type, problems, units, secrets."""
