"""Small reusable widgets: charts, panels and tables."""
