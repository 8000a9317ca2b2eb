/** edge-dmp converter: tfjs model -> verified .tflite -> signed .edmp bundle. The explicit public API. */
export {};
