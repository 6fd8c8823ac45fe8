"""Operations: the use cases the CLI, the scheduler and the console all call (engine + store)."""
