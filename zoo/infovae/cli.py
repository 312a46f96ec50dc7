"""placeholder"""
VERBS = {}
