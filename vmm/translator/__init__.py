"""The translator: rewrite rules, the LLVM IR builder, the JIT, the native dispatcher, the engine."""
