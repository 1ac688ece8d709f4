# Not to be shared: the e2e tests set pie.context.exclude to ["private/**"], so nothing of this file may reach a prompt.

SECRET_SHAPE_TOKEN = "do-not-send-c0ffee"


def rectangle_area_with_margin(width, height, margin):
    return (width + 2 * margin) * (height + 2 * margin)
