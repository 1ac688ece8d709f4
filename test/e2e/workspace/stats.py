"""Small statistics helpers for the end-to-end tests to open and edit."""


def mean(values):
    return sum(values) / len(values)


def variance(values):
