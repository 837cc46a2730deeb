package fi.tmc.sample;

import fi.tmc.course.Greeting;

/** The student's part, built on the course's library from the layer. */
public class Welcome {
	public static String welcome(String name) {
		return Greeting.greet(name) + " Welcome to the course.";
	}
}
