"""The Scenario: its field table, the rules between fields, presets and files; and the
checks of analysis functions' arguments."""
