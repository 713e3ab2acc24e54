{
  "targets": [
    {
      "target_name": "llama_napi",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "message": "Building llama-napi through CMakeLists.txt (cmake-js)",
          "inputs": ["<(module_root_dir)/CMakeLists.txt"],
          "outputs": ["<(module_root_dir)/build/Release/llama_napi.node"],
          "action": ["node", "<(module_root_dir)/scripts/build-native.mjs"]
        }
      ]
    }
  ]
}
