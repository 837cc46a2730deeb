package fi.tmc.course;

/** A course's own library: compiled and installed into a layer by build-layer.sh. */
public final class Greeting {
	public static final String VERSION = "greeting-lib 1.0 (layer)";

	private Greeting() {
	}

	public static String greet(String name) {
		return "Hello, " + name + "!";
	}
}
