# Golden IR tests: each file's RUN: lines run cnnc / cnnc-opt and pipe the
# output into FileCheck, which matches it against the file's CHECK: lines.
import os
import lit.formats

config.name = "cnnc-golden"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".test", ".cnn"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py.in"]

config.substitutions.append(("%cnnc-opt", config.cnnc_opt))
config.substitutions.append(("%cnnc", config.cnnc))
config.substitutions.append(("%examples", config.examples_dir))
config.substitutions.append(("FileCheck", config.filecheck))
# `not` (expects failure) comes from llvm-19-tools as well.
config.environment["PATH"] = os.pathsep.join([config.llvm_tools_dir, config.environment.get("PATH", "")])
# Tiles are chosen for the host's caches and cores; the goldens expect those
# of the machine they were written on (an AMD EPYC, Zen 5), whatever the host.
config.environment["CNNC_MACHINE"] = "l1=48K,l2=1M,l3=32M,cores=2"
