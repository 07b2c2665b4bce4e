"""Lambda runtimes as AWS runs them: log records, error answers, the Node.js runtime and its
SDK, one folder (and /tmp) per execution environment, and the interpreter versions."""
