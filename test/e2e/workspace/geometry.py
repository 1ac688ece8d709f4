# Shapes on a plane: areas and perimeters.


def rectangle_area(width, height):
    return width * height


def rectangle_perimeter(width, height):
    return 2 * (width + height)


def circle_area(radius):
    return 3.141592653589793 * radius * radius
