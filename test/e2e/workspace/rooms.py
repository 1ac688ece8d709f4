# Rooms of a house: the e2e test of workspace context types here, using geometry.py.
