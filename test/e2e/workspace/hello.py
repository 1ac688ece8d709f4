# A small program for the end-to-end tests to open and edit.


def greet(name):
    return "Hello, " + name + "!"


def main():
    for name in ["Ada", "Grace", "Linus"]:
        print(greet(name))


if __name__ == "__main__":
    main()
