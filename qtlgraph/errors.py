"""The one exception type the CLI turns into a single clear line and exit code 2."""


class InputError(ValueError):
    """Bad user input: a file, column, row or option that is not what was expected.

    The message names the file (and the column or row where known) and says what was
    expected. Library code raises it at the door; the CLI prints ``error: <message>``.
    """
